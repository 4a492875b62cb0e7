"""Static checks of the launch files, parameter files, RViz config and robot description.

launch / launch_ros are not installable without a ROS distribution, so the launch files are
analysed from their source (ast) instead of being executed:

* the file parses and defines generate_launch_description();
* every Node(package=..., executable=...) names a console script of one of our packages, or a
  package dojo_bringup declares as <exec_depend>; FindPackageShare('pkg') likewise;
* every file reached through PathJoinSubstitution([FindPackageShare('dojo_bringup'), 'config',
  'x.yaml']) (or os.path.join(get_package_share_directory(...), ...)) exists in the workspace;
* every DeclareLaunchArgument has a description, and every LaunchConfiguration('x') is declared in
  the same file (so `ros2 launch -s` documents every argument);
* a Node of ours runs a console script whose module and function exist, and a Node named `x` that
  loads a parameter file of dojo_bringup (directly or as a launch argument's default) finds its
  `/**/x` section there, holding every parameter the launch file sets on top;
* IncludeLaunchDescription of one of our launch files passes only arguments that file declares,
  and every argument it requires (no default).

Every parameter file is loaded by rcl itself (a real rclpy node with `--params-file`, at the root
and under a namespace), so each section must reach its node wherever it is launched.

The robot description is expanded with the xacro Python package for every hardware_type, and
config/controllers.yaml is checked against the joints and interfaces the expansion exposes.
"""
from __future__ import annotations

import ast
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import pytest
import rclpy
import rclpy.context
import yaml
from rcl_interfaces.msg import ParameterDescriptor

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / 'src'
BRINGUP = 'dojo_bringup'
XACRO = REPO / 'urdf' / 'so101.urdf.xacro'
LEROBOT_JOINTS = ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll',
                  'gripper']
ARM_JOINTS = LEROBOT_JOINTS[:5]
# Folders of the repository root that dojo_bringup installs into share/dojo_bringup/.
BRINGUP_SHARE_FOLDERS = ('launch', 'config', 'urdf')

LAUNCH_FILES = sorted((REPO / 'launch').glob('*.launch.py'))
CONFIG_YAML = sorted(p for p in (REPO / 'config').rglob('*') if p.suffix in ('.yaml', '.yml'))


# --------------------------------------------------------------------------------------------
# Workspace facts, read without importing or building anything
# --------------------------------------------------------------------------------------------

def _package_name(package_xml: Path) -> str:
    name = ET.parse(package_xml).getroot().findtext('name')
    assert name, f'{package_xml} has no <name>'
    return name.strip()


@lru_cache(maxsize=None)
def our_packages() -> dict[str, Path]:
    """{package name: package directory} for every package.xml directly under src/."""
    return {_package_name(p): p.parent for p in sorted(SRC.glob('*/package.xml'))}


@lru_cache(maxsize=None)
def bringup_exec_depends() -> frozenset[str]:
    root = ET.parse(our_packages()[BRINGUP] / 'package.xml').getroot()
    tags = ('exec_depend', 'depend')
    return frozenset(e.text.strip() for tag in tags for e in root.iter(tag) if e.text)


def console_scripts_from_setup(source: str) -> dict[str, str]:
    """{name: 'module:function'} of the console scripts a setup.py declares, read with ast (setup.py is not run).

    Understands `entry_points={'console_scripts': [...]}` given literally in the setup() call or
    through a module-level variable.
    """
    tree = ast.parse(source)
    assigned: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = node.value

    def resolve(expr: ast.expr) -> ast.expr:
        while isinstance(expr, ast.Name) and expr.id in assigned:
            expr = assigned[expr.id]
        return expr

    scripts: dict[str, str] = {}
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and _call_name(call) == 'setup'):
            continue
        for kw in call.keywords:
            if kw.arg != 'entry_points':
                continue
            entry_points = resolve(kw.value)
            if not isinstance(entry_points, ast.Dict):
                continue
            for key, value in zip(entry_points.keys, entry_points.values):
                if _literal_str(key) != 'console_scripts':
                    continue
                value = resolve(value)
                if isinstance(value, (ast.List, ast.Tuple)):
                    for elt in value.elts:
                        spec = _literal_str(resolve(elt))
                        if spec and '=' in spec:
                            name, target = spec.split('=', 1)
                            scripts[name.strip()] = target.strip()
    return scripts


@lru_cache(maxsize=None)
def console_scripts(package: str) -> frozenset[str]:
    return frozenset(console_script_targets(package))


@lru_cache(maxsize=None)
def console_script_targets(package: str) -> dict[str, str]:
    """{console script: 'module:function'} of one of our packages."""
    setup_py = our_packages()[package] / 'setup.py'
    if not setup_py.exists():
        return {}
    return console_scripts_from_setup(setup_py.read_text())


def entry_point_problem(package: str, target: str) -> str | None:
    """Why `module:function` of one of our packages would not start (None = it would)."""
    module, _, function = target.partition(':')
    path = our_packages()[package].joinpath(*module.split('.')).with_suffix('.py')
    if not path.is_file():
        return f'module {module} ({path.relative_to(REPO)}) does not exist'
    defined = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
    if function not in defined:
        return f'{module} defines no function {function}()'
    return None


# --------------------------------------------------------------------------------------------
# The launch-file checker
# --------------------------------------------------------------------------------------------

def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _kwarg(call: ast.Call, name: str, position: int | None = None) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


def _share_package(node: ast.AST) -> str | None:
    """'pkg' when node is FindPackageShare('pkg') or get_package_share_directory('pkg')."""
    if isinstance(node, ast.Call) and _call_name(node) in (
            'FindPackageShare', 'get_package_share_directory', 'get_package_share_path'):
        return _literal_str(_kwarg(node, 'package', 0))
    return None


def _single_assignments(tree: ast.AST) -> dict[str, ast.expr]:
    """{name: value} for names assigned exactly once (`share = FindPackageShare('x')`)."""
    values: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    values.setdefault(target.id, []).append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            values.setdefault(node.target.id, []).append(node.value)
    return {name: exprs[0] for name, exprs in values.items() if len(exprs) == 1 and exprs[0]}


def _share_file_references(tree: ast.AST) -> list[tuple[int, str, list[str | None]]]:
    """(line, package, path parts) for PathJoinSubstitution([FindPackageShare(p), ...]) and
    os.path.join(get_package_share_directory(p), ...); a non-literal part is None. Parts held in
    variables assigned once (`share = FindPackageShare(p)`) are followed."""
    resolve = _resolver(tree)
    found = []
    for call in ast.walk(tree):
        reference = _share_path(call, resolve)
        if reference is not None:
            found.append((call.lineno, *reference))
    return found


def _share_path(call: ast.AST, resolve) -> tuple[str, list[str | None]] | None:
    """(package, path parts) when `call` is PathJoinSubstitution([FindPackageShare(p), ...]) or
    os.path.join(get_package_share_directory(p), ...); a non-literal part is None."""
    if not isinstance(call, ast.Call):
        return None
    name = _call_name(call)
    if name == 'PathJoinSubstitution' and call.args and isinstance(call.args[0], (ast.List, ast.Tuple)):
        parts = list(call.args[0].elts)
    elif name == 'join' and call.args:
        parts = list(call.args)
    else:
        return None
    parts = [resolve(part) for part in parts]
    package = _share_package(parts[0]) if parts else None
    if package is None:
        return None
    literal_parts = []
    for part in parts[1:]:
        text = _literal_str(part)
        literal_parts.extend(text.strip('/').split('/') if text is not None else [None])
    return package, literal_parts


def _workspace_file(package: str, parts: list[str | None]) -> Path | None:
    """The workspace file behind share/<package>/<parts> when all parts are literal."""
    root = _share_root(package)
    if root is None or not parts or None in parts:
        return None
    return root / Path(*parts)


def _declared_arguments(tree: ast.AST) -> dict[str, ast.Call]:
    return {_literal_str(_kwarg(c, 'name', 0)): c for c in ast.walk(tree)
            if isinstance(c, ast.Call) and _call_name(c) == 'DeclareLaunchArgument'}


def _share_root(package: str) -> Path | None:
    """Where a package's share/ files come from in this workspace."""
    if package == BRINGUP:
        return REPO  # src/dojo_bringup/{launch,config,urdf} are links to the root folders
    if package in our_packages():
        return our_packages()[package]
    return None


def _resolver(tree: ast.AST, declared: dict[str, ast.Call] | None = None):
    """Follows names assigned once and, given the declared arguments, LaunchConfiguration('x') to
    the default value of x."""
    assigned = _single_assignments(tree)
    declared = declared or {}

    def resolve(expr: ast.expr) -> ast.expr:
        seen = set()
        while True:
            if isinstance(expr, ast.Name) and expr.id in assigned:
                key, value = expr.id, assigned[expr.id]
            elif isinstance(expr, ast.Call) and _call_name(expr) == 'LaunchConfiguration':
                key = _literal_str(_kwarg(expr, 'variable_name', 0))
                value = _kwarg(declared[key], 'default_value', 1) if key in declared else None
            else:
                return expr
            if value is None or key in seen:
                return expr
            seen.add(key)
            expr = value
    return resolve


#: Parameters every node has without declaring them in its file.
BUILTIN_PARAMETERS = {'use_sim_time'}


def _node_section_problems(tree: ast.AST, declared: dict[str, ast.Call]) -> Iterator[tuple[int, str]]:
    """A Node named `x` whose parameters include a YAML file of ours must find a section for `x`
    there (`/**/x` or `x`), or the file silently configures nothing; parameters the launch file
    sets on top (`{'name': value}`) must be ones that section has, or a typo goes unnoticed."""
    resolve = _resolver(tree, declared)
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and _call_name(call) in ('Node', 'LifecycleNode')):
            continue
        node_name = _literal_str(_kwarg(call, 'name'))
        parameters = resolve(_kwarg(call, 'parameters')) if _kwarg(call, 'parameters') else None
        if node_name is None or not isinstance(parameters, (ast.List, ast.Tuple)):
            continue
        entries = [resolve(entry) for entry in parameters.elts]
        overrides = {_literal_str(k) for entry in entries if isinstance(entry, ast.Dict) for k in entry.keys}
        for entry in entries:
            reference = _share_path(entry, resolve)
            path = _workspace_file(*reference) if reference else None
            if path is None or path.suffix not in ('.yaml', '.yml') or not path.is_file():
                continue
            sections = {str(key).removeprefix('/**/').lstrip('/'): value
                        for key, value in yaml.safe_load(path.read_text()).items()}
            if node_name not in sections:
                yield call.lineno, (f'node {node_name!r} has no section in {path.relative_to(REPO)} '
                                    f'(sections: {sorted(sections)})')
                continue
            known = set(sections[node_name].get('ros__parameters', {})) | BUILTIN_PARAMETERS
            for name in sorted(overrides - known - {None}):
                yield call.lineno, f'node {node_name!r} sets {name!r}, which {path.relative_to(REPO)} does not have'


def _include_problems(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """IncludeLaunchDescription of one of our launch files: every argument passed is declared there,
    and every argument it declares without a default is passed."""
    resolve = _resolver(tree)
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and _call_name(call) == 'IncludeLaunchDescription' and call.args):
            continue
        reference = _share_path(resolve(call.args[0]), resolve)
        path = _workspace_file(*reference) if reference else None
        if path is None or not path.is_file():
            continue  # not ours, or missing (reported as a missing share file)
        arguments = _kwarg(call, 'launch_arguments')
        arguments = resolve(arguments) if arguments is not None else None
        if (isinstance(arguments, ast.Call) and isinstance(arguments.func, ast.Attribute)
                and arguments.func.attr == 'items'):
            arguments = resolve(arguments.func.value)
        passed = ({_literal_str(k) for k in arguments.keys} if isinstance(arguments, ast.Dict) else set())
        included = _declared_arguments(ast.parse(path.read_text()))
        for name in sorted(passed - set(included), key=str):
            yield call.lineno, f'{path.name} declares no argument {name!r}'
        for name, declaration in included.items():
            if _kwarg(declaration, 'default_value', 1) is None and name not in passed:
                yield call.lineno, f'{path.name} requires argument {name!r}, which is not passed'


def analyse_launch_source(source: str, filename: str = '<launch>') -> list[str]:
    """Every problem found in the source of one Python launch file (empty list = clean)."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return [f'{filename}:{exc.lineno}: syntax error: {exc.msg}']

    problems: list[str] = []

    def report(node: ast.AST, text: str) -> None:
        problems.append(f'{filename}:{getattr(node, "lineno", 0)}: {text}')

    if not any(isinstance(n, ast.FunctionDef) and n.name == 'generate_launch_description'
               for n in tree.body):
        problems.append(f'{filename}: no module-level generate_launch_description()')

    ours = our_packages()
    depends = bringup_exec_depends()
    declared: dict[str, ast.Call] = {}
    used: list[tuple[str, ast.Call]] = []

    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = _call_name(call)

        if name in ('Node', 'LifecycleNode'):
            package = _literal_str(_kwarg(call, 'package'))
            executable_node = _kwarg(call, 'executable')
            executable = _literal_str(executable_node)
            if executable_node is None:
                report(call, f'{name}(package={package!r}) has no executable')
            if package is None:
                continue
            if package in ours:
                if executable is not None and executable not in console_scripts(package):
                    report(call, f'executable {executable!r} is not a console script of '
                                 f'{package} (declared: {sorted(console_scripts(package))})')
                elif executable is not None:
                    problem = entry_point_problem(package, console_script_targets(package)[executable])
                    if problem:
                        report(call, f'executable {executable!r} of {package}: {problem}')
            elif package not in depends:
                report(call, f'package {package!r} is not an <exec_depend> of {BRINGUP}')

        elif _share_package(call) is not None:
            package = _share_package(call)
            if package not in ours and package not in depends:
                report(call, f'package {package!r} is not an <exec_depend> of {BRINGUP}')

        elif name == 'DeclareLaunchArgument':
            arg = _literal_str(_kwarg(call, 'name', 0))
            if arg is None:
                report(call, 'DeclareLaunchArgument without a literal name')
                continue
            if arg in declared:
                report(call, f'launch argument {arg!r} declared twice')
            declared[arg] = call
            description = _kwarg(call, 'description')
            text = _literal_str(description)
            if description is None or (text is not None and not text.strip()):
                report(call, f'launch argument {arg!r} has no description')

        elif name == 'LaunchConfiguration':
            arg = _literal_str(_kwarg(call, 'variable_name', 0))
            if arg is not None:
                used.append((arg, call))

    for arg, call in used:
        if arg not in declared:
            report(call, f'LaunchConfiguration({arg!r}) is not declared in this file')

    problems.extend(f'{filename}:{line}: {text}' for line, text in _node_section_problems(tree, declared))
    problems.extend(f'{filename}:{line}: {text}' for line, text in _include_problems(tree))

    for line, package, parts in _share_file_references(tree):
        root = _share_root(package)
        if root is None:
            continue  # another package's share: its existence is the exec_depend check above
        literal = []
        for part in parts:
            if part is None:
                break
            literal.append(part)
        if not literal:
            continue
        if package == BRINGUP and literal[0] not in BRINGUP_SHARE_FOLDERS:
            problems.append(f'{filename}:{line}: {package} installs only '
                            f'{"/".join(BRINGUP_SHARE_FOLDERS)}, not {literal[0]!r}')
            continue
        if not (root / Path(*literal)).exists():
            problems.append(f'{filename}:{line}: share/{package}/{"/".join(literal)} does not '
                            f'exist (looked for {(root / Path(*literal)).relative_to(REPO)})')
    return problems


# --------------------------------------------------------------------------------------------
# Launch files
# --------------------------------------------------------------------------------------------

def test_launch_folder_has_launch_files():
    assert LAUNCH_FILES, 'no launch/*.launch.py found'
    assert (SRC / BRINGUP / 'launch').resolve() == (REPO / 'launch').resolve()


@pytest.mark.parametrize('launch_file', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_is_consistent(launch_file: Path):
    problems = analyse_launch_source(launch_file.read_text(), launch_file.name)
    assert not problems, '\n'.join(problems)


def test_sim_launch_declares_expected_arguments():
    tree = ast.parse((REPO / 'launch' / 'sim.launch.py').read_text())
    args = {_literal_str(_kwarg(c, 'name', 0)): c for c in ast.walk(tree)
            if isinstance(c, ast.Call) and _call_name(c) == 'DeclareLaunchArgument'}
    assert {'use_sim_time', 'namespace', 'rviz', 'sim_config'} <= set(args)
    defaults = {name: _literal_str(_kwarg(call, 'default_value', 1)) for name, call in args.items()}
    assert defaults['use_sim_time'] == 'true'
    assert defaults['namespace'] == ''
    assert defaults['rviz'] == 'false'
    executables = {(_literal_str(_kwarg(c, 'package')), _literal_str(_kwarg(c, 'executable')))
                   for c in ast.walk(tree) if isinstance(c, ast.Call) and _call_name(c) == 'Node'}
    assert executables == {('dojo_sim', 'sim_node'),
                           ('robot_state_publisher', 'robot_state_publisher'),
                           ('rviz2', 'rviz2')}


def test_robot_launch_declares_expected_arguments():
    tree = ast.parse((REPO / 'launch' / 'robot.launch.py').read_text())
    args = {_literal_str(_kwarg(c, 'name', 0)): c for c in ast.walk(tree)
            if isinstance(c, ast.Call) and _call_name(c) == 'DeclareLaunchArgument'}
    assert {'hardware_type', 'usb_port', 'leader_port', 'cameras', 'namespace', 'use_sim_time',
            'rviz'} <= set(args)
    choices = ast.literal_eval(_kwarg(args['hardware_type'], 'choices'))
    assert choices == ['real', 'mock', 'sim']
    executables = {(_literal_str(_kwarg(c, 'package')), _literal_str(_kwarg(c, 'executable')))
                   for c in ast.walk(tree) if isinstance(c, ast.Call) and _call_name(c) == 'Node'}
    assert {('dojo_hardware', 'arm_driver'), ('dojo_hardware', 'leader_arm'),
            ('dojo_cameras', 'camera_node'), ('controller_manager', 'ros2_control_node'),
            ('robot_state_publisher', 'robot_state_publisher')} <= executables
    # The cameras of the docs' example (cameras:=front,wrist) have their node sections.
    camera_config = yaml.safe_load((REPO / 'config' / 'cameras' / 'camera_node.yaml').read_text())
    assert {'/**/front_camera', '/**/wrist_camera'} <= set(camera_config)
    for robot in ('so101_feetech', 'koch_dynamixel'):
        assert (REPO / 'config' / 'hardware' / f'{robot}.yaml').is_file()


def _nodes_and_includes(name: str) -> tuple[dict[str, ast.Call], set[tuple[str, str]], set[str]]:
    """(declared arguments, Node (package, executable) pairs, launch files included) of launch/<name>."""
    tree = ast.parse((REPO / 'launch' / name).read_text())
    nodes = {(_literal_str(_kwarg(c, 'package')), _literal_str(_kwarg(c, 'executable')))
             for c in ast.walk(tree) if isinstance(c, ast.Call) and _call_name(c) == 'Node'}
    resolve = _resolver(tree)
    includes = {_share_path(resolve(c.args[0]), resolve)[1][-1] for c in ast.walk(tree)
                if isinstance(c, ast.Call) and _call_name(c) == 'IncludeLaunchDescription'}
    return _declared_arguments(tree), nodes, includes


@pytest.mark.parametrize('name, nodes', [
    ('record.launch.py', {('dojo_recorder', 'recorder_node'), ('dojo_sim', 'pick_place_expert')}),
    ('serve.launch.py', {('dojo_policy', 'policy_node')}),
    ('teleop.launch.py', set()),
])
def test_use_case_launch_files_reuse_robot_launch(name: str, nodes: set[tuple[str, str]]):
    """record / serve / teleop bring the arm or the cell up through robot.launch.py (no copied node
    definitions) and add only their own nodes."""
    args, found, includes = _nodes_and_includes(name)
    assert includes == {'robot.launch.py'}
    assert found == nodes
    assert ast.literal_eval(_kwarg(args['hardware_type'], 'choices')) == ['real', 'sim']


def test_serve_launch_requires_a_checkpoint_and_defaults_to_the_embedded_feature_map():
    args, _, _ = _nodes_and_includes('serve.launch.py')
    assert _kwarg(args['checkpoint'], 'default_value', 1) is None  # required: ros2 launch refuses without it
    assert _literal_str(_kwarg(args['feature_map'], 'default_value', 1)) == ''  # '' = the checkpoint's map
    from dojo_policy.policy_node import PolicyNodeConfig
    assert PolicyNodeConfig().feature_map == ''


def test_console_scripts_are_read_from_setup_py():
    assert 'sim_node' in console_scripts('dojo_sim')
    via_variable = textwrap.dedent('''
        from setuptools import setup
        scripts = ['a = m:main', 'b=m:other']
        setup(name='x', entry_points={'console_scripts': scripts, 'other': ['c = m:f']})
    ''')
    assert console_scripts_from_setup(via_variable) == {'a': 'm:main', 'b': 'm:other'}
    assert entry_point_problem('dojo_sim', 'dojo_sim.sim_node:main') is None
    assert 'defines no function nope()' in entry_point_problem('dojo_sim', 'dojo_sim.sim_node:nope')
    assert 'does not exist' in entry_point_problem('dojo_sim', 'dojo_sim.gone:main')


BROKEN_LAUNCH = textwrap.dedent('''
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.substitutions import FindPackageShare


    def make_description():
        share = FindPackageShare('dojo_bringup')
        return LaunchDescription([
            DeclareLaunchArgument('use_sim_time', default_value='true'),
            DeclareLaunchArgument('rviz', default_value='false', description=''),
            Node(package='dojo_sim', executable='no_such_node',
                 parameters=[PathJoinSubstitution([share, 'config', 'missing.yaml']),
                             {'use_sim_time': LaunchConfiguration('use_sim_time')}]),
            Node(package='joy', executable='joy_node', namespace=LaunchConfiguration('ns')),
            Node(package='dojo_sim', executable='sim_node'),
            IncludeLaunchDescription(PathJoinSubstitution(
                [FindPackageShare('dojo_bringup'), 'launch', 'nope.launch.py'])),
            IncludeLaunchDescription(PathJoinSubstitution(
                [FindPackageShare('nav2_bringup'), 'launch', 'x.launch.py'])),
            Node(package='rviz2', executable='rviz2', arguments=[
                '-d', PathJoinSubstitution([share, 'rviz', 'view.rviz'])]),
            DeclareLaunchArgument('recorder_config', description='Recorder parameters.',
                                  default_value=PathJoinSubstitution([share, 'config', 'recorder.yaml'])),
            Node(package='dojo_recorder', executable='recorder_node', name='recorder',
                 parameters=[LaunchConfiguration('recorder_config')]),
            Node(package='dojo_recorder', executable='recorder_node', name='recorder_node',
                 parameters=[LaunchConfiguration('recorder_config'), {'repo_id': 'a/b', 'repoid': 'a/b'}]),
            Node(package='dojo_sim', executable='sim_node', name='sim_node',
                 parameters=[PathJoinSubstitution([share, 'config', 'expert.yaml'])]),
            IncludeLaunchDescription(PathJoinSubstitution([share, 'launch', 'sim.launch.py']),
                                     launch_arguments={'rviz': 'true', 'gui': 'true'}.items()),
            IncludeLaunchDescription(PathJoinSubstitution([share, 'launch', 'serve.launch.py'])),
        ])
''')


def test_checker_reports_each_mistake_in_a_broken_launch_file():
    problems = analyse_launch_source(BROKEN_LAUNCH, 'broken.launch.py')
    text = '\n'.join(problems)

    def count(fragment: str) -> int:
        return sum(fragment in p for p in problems)

    assert count('no module-level generate_launch_description()') == 1, text
    assert count("'use_sim_time' has no description") == 1, text
    assert count("'rviz' has no description") == 1, text
    assert count("executable 'no_such_node' is not a console script of dojo_sim") == 1, text
    assert count("package 'joy' is not an <exec_depend>") == 1, text
    assert count("package 'nav2_bringup' is not an <exec_depend>") == 1, text
    assert count("LaunchConfiguration('ns') is not declared") == 1, text
    assert count('share/dojo_bringup/config/missing.yaml does not exist') == 1, text
    assert count('share/dojo_bringup/launch/nope.launch.py does not exist') == 1, text
    assert count("not 'rviz'") == 1, text  # dojo_bringup has no rviz/ share folder
    # a node name that its parameter file (given directly or as an argument's default) does not know
    assert count("node 'recorder' has no section in config/recorder.yaml") == 1, text
    assert count("node 'sim_node' has no section in config/expert.yaml") == 1, text
    assert count("node 'recorder_node' sets 'repoid', which config/recorder.yaml does not have") == 1, text
    assert count("sim.launch.py declares no argument 'gui'") == 1, text
    assert count("serve.launch.py requires argument 'checkpoint', which is not passed") == 1, text
    # The correct lines produce nothing: sim_node exists, rviz2 is an exec_depend,
    # use_sim_time is declared, sim.launch.py has an rviz argument.
    assert len(problems) == 15, text


def test_checker_accepts_a_correct_launch_file_and_rejects_bad_syntax():
    good = textwrap.dedent('''
        import os
        from ament_index_python.packages import get_package_share_directory
        from launch import LaunchDescription
        from launch.actions import DeclareLaunchArgument
        from launch.substitutions import LaunchConfiguration
        from launch_ros.actions import Node


        def generate_launch_description():
            share = get_package_share_directory('dojo_bringup')
            urdf = os.path.join(share, 'urdf/so101.urdf.xacro')
            return LaunchDescription([
                DeclareLaunchArgument('namespace', default_value='', description='Namespace.'),
                Node(package='dojo_sim', executable='sim_node',
                     namespace=LaunchConfiguration('namespace'), arguments=[urdf]),
            ])
    ''')
    assert analyse_launch_source(good) == []
    assert 'share/dojo_bringup/urdf/gone.xacro does not exist' in '\n'.join(
        analyse_launch_source(good.replace('so101.urdf.xacro', 'gone.xacro')))
    assert 'syntax error' in analyse_launch_source('def generate_launch_description(:\n')[0]


# --------------------------------------------------------------------------------------------
# Parameter files and the RViz config
# --------------------------------------------------------------------------------------------

def parameter_file_problems(data: object, where: str = '') -> list[str]:
    """Problems with the `node: {ros__parameters: {...}}` shape (namespaces may nest nodes)."""
    if not isinstance(data, dict) or not data:
        return [f'{where or "<root>"}: expected a mapping of node names']
    problems = []
    for key, value in data.items():
        path = f'{where}/{key}' if where else str(key)
        if key == 'ros__parameters':
            if not where:
                problems.append('ros__parameters at the top level: it must sit under a node name')
            elif not isinstance(value, dict):
                problems.append(f'{path}: ros__parameters must be a mapping')
            continue
        if not isinstance(value, dict):
            problems.append(f'{path}: expected a node or namespace mapping, got {value!r}')
        else:
            problems.extend(parameter_file_problems(value, path))
    return problems


def test_config_folder_has_yaml():
    assert CONFIG_YAML, 'no YAML under config/'


@pytest.mark.parametrize('path', CONFIG_YAML, ids=lambda p: str(p.relative_to(REPO)))
def test_config_yaml_parses_and_parameter_files_have_node_shape(path: Path):
    text = path.read_text()
    data = yaml.safe_load(text)
    if 'ros__parameters' in text:
        problems = parameter_file_problems(data)
        assert not problems, '\n'.join(problems)


def test_parameter_shape_checker_finds_mistakes():
    assert parameter_file_problems({'sim_node': {'ros__parameters': {'rate': 30}}}) == []
    assert parameter_file_problems({'/**': {'ros__parameters': {'use_sim_time': True}}}) == []
    assert parameter_file_problems({'ns': {'sim_node': {'ros__parameters': {}}}}) == []
    assert parameter_file_problems({'ros__parameters': {'rate': 30}})
    assert parameter_file_problems({'sim_node': {'ros__parameters': [1, 2]}})
    assert parameter_file_problems({'sim_node': {'rate': 30}})
    assert parameter_file_problems([{'sim_node': {}}])


PARAMETER_FILES = [p for p in CONFIG_YAML if 'ros__parameters' in p.read_text()]


def parameter_sections(data: dict, where: str = '') -> dict[str, dict]:
    """{node key (namespaces joined by '/'): its ros__parameters} of a parameter file."""
    sections = {}
    for key, value in data.items():
        if key == 'ros__parameters':
            sections[where] = value
        else:
            sections.update(parameter_sections(value, f'{where}/{key}' if where else key))
    return sections


def flat_parameters(params: dict, prefix: str = '') -> dict[str, object]:
    """Nested parameter mappings as rcl names them: {'front_camera.width': 640, ...}."""
    flat = {}
    for key, value in params.items():
        name = f'{prefix}{key}'
        flat.update(flat_parameters(value, f'{name}.') if isinstance(value, dict) else {name: value})
    return flat


@pytest.fixture(scope='module')
def ros_context() -> Iterator[rclpy.context.Context]:
    context = rclpy.context.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


@pytest.mark.parametrize('namespace', ['/', '/arm1'])
@pytest.mark.parametrize('path', PARAMETER_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_parameter_file_reaches_its_nodes_in_any_namespace(path: Path, namespace: str,
                                                           ros_context: rclpy.context.Context):
    """Each section's node, started by rcl with `--params-file` in a namespace (what launch and
    Jazzy's controller_manager do), receives that section: a bare `sim_node:` key matches only
    /sim_node, `/**/sim_node` any namespace (controllers included: the controller_manager hands
    the file to each controller node it creates in its own namespace)."""
    sections = parameter_sections(yaml.safe_load(path.read_text()))
    for key, params in sections.items():
        expected = flat_parameters(params)
        node = rclpy.create_node(key.rsplit('/', 1)[-1], namespace=namespace, context=ros_context,
                                 cli_args=['--ros-args', '--params-file', str(path)],
                                 start_parameter_services=False, enable_rosout=False)
        try:
            any_type = ParameterDescriptor(dynamic_typing=True)
            received = {name: node.declare_parameter(name, descriptor=any_type).value for name in expected}
        finally:
            node.destroy_node()
        # rcl gives an empty list no type: it arrives unset, like a parameter the file did not reach.
        expected = {name: None if value == [] else value for name, value in expected.items()}
        received = {name: list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
                    for name, v in received.items()}
        wrong = sorted(name for name in expected if received[name] != expected[name])
        assert not wrong, f'{key} in {namespace}: {len(wrong)} parameters not received: {wrong}'


def test_parameter_sections_and_names_follow_rcl():
    data = {'/**/sim_node': {'ros__parameters': {'rate': 30, 'cam': {'w': 640, 'h': [1, 2]}}},
            'ns': {'arm_driver': {'ros__parameters': {'port': 'x'}}}}
    sections = parameter_sections(data)
    assert set(sections) == {'/**/sim_node', 'ns/arm_driver'}
    assert flat_parameters(sections['/**/sim_node']) == {'rate': 30, 'cam.w': 640, 'cam.h': [1, 2]}


def test_rviz_config_matches_the_robot_and_the_sim_topics():
    config = yaml.safe_load((REPO / 'config' / 'dojo.rviz').read_text())
    manager = config['Visualization Manager']
    assert manager['Global Options']['Fixed Frame'] in urdf_links('none')
    displays = {d['Class']: d for d in manager['Displays']}
    for cls in ('Grid', 'RobotModel', 'TF'):
        assert f'rviz_default_plugins/{cls}' in displays
    model = displays['rviz_default_plugins/RobotModel']
    assert model['Description Source'] == 'Topic'
    assert model['Description Topic']['Value'].lstrip('/') == 'robot_description'
    assert model['Description Topic']['Durability Policy'] == 'Transient Local'
    images = [d for d in manager['Displays'] if d['Class'] == 'rviz_default_plugins/Image']
    assert sorted(d['Topic']['Value'].lstrip('/') for d in images) == [
        'cameras/front/image_raw', 'cameras/wrist/image_raw']
    assert all(d['Topic']['Reliability Policy'] == 'Best Effort' for d in images)


# --------------------------------------------------------------------------------------------
# Robot description
# --------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def expand(hardware_type: str, **extra: str) -> ET.Element:
    xacro = pytest.importorskip('xacro')
    mappings = {'hardware_type': hardware_type, **extra}
    return ET.fromstring(xacro.process_file(str(XACRO), mappings=mappings).toxml())


def urdf_links(hardware_type: str) -> set[str]:
    return {link.get('name') for link in expand(hardware_type).iter('link')}


def control_joints(robot: ET.Element) -> dict[str, dict[str, set[str]]]:
    """{joint: {'command': {...}, 'state': {...}}} from the <ros2_control> blocks."""
    joints = {}
    for block in robot.findall('ros2_control'):
        for joint in block.findall('joint'):
            joints[joint.get('name')] = {
                'command': {i.get('name') for i in joint.findall('command_interface')},
                'state': {i.get('name') for i in joint.findall('state_interface')},
            }
    return joints


@pytest.mark.parametrize('hardware_type', ['mock', 'topic', 'none'])
def test_xacro_expands_for_every_hardware_type(hardware_type: str):
    robot = expand(hardware_type)
    assert robot.get('name') == 'so101'
    assert {'base_link', 'gripper_frame', 'front_camera_optical_frame',
            'wrist_camera_optical_frame'} <= urdf_links(hardware_type)
    movable = [j.get('name') for j in robot.findall('joint') if j.get('type') != 'fixed']
    assert movable == LEROBOT_JOINTS
    blocks = robot.findall('ros2_control')
    if hardware_type == 'none':
        assert blocks == []
    else:
        assert len(blocks) == 1
        assert sorted(control_joints(robot)) == sorted(LEROBOT_JOINTS)
        assert list(control_joints(robot)) == LEROBOT_JOINTS
        for interfaces in control_joints(robot).values():
            assert interfaces == {'command': {'position'}, 'state': {'position', 'velocity'}}


def test_xacro_rejects_an_unknown_hardware_type():
    xacro = pytest.importorskip('xacro')
    with pytest.raises(xacro.XacroException, match='hardware_type'):
        xacro.process_file(str(XACRO), mappings={'hardware_type': 'real'}).toxml()


def test_topic_hardware_names_the_topic_system_with_explicit_topics():
    robot = expand('topic', joint_commands_topic='/cell/joint_commands',
                   joint_states_topic='/cell/joint_states')
    (hardware,) = robot.findall('ros2_control/hardware')
    assert hardware.findtext('plugin').strip() == \
        'joint_state_topic_hardware_interface/JointStateTopicSystem'
    params = {p.get('name'): (p.text or '').strip() for p in hardware.findall('param')}
    assert params['joint_commands_topic'] == '/cell/joint_commands'
    assert params['joint_states_topic'] == '/cell/joint_states'
    defaults = {p.get('name'): (p.text or '').strip()
                for p in expand('topic').findall('ros2_control/hardware/param')}
    assert defaults == {'joint_commands_topic': 'joint_commands',
                        'joint_states_topic': 'joint_states'}
    (mock_plugin,) = expand('mock').findall('ros2_control/hardware/plugin')
    assert mock_plugin.text.strip() == 'mock_components/GenericSystem'


# --------------------------------------------------------------------------------------------
# Controllers
# --------------------------------------------------------------------------------------------

# Parameters that Jazzy's ros2_controllers no longer has (silently ignored if left in a file).
REMOVED_IN_JAZZY = {'state_publish_rate', 'start_with_holding', 'angle_wraparound'}


def _controllers() -> tuple[dict, dict]:
    sections = yaml.safe_load((REPO / 'config' / 'controllers.yaml').read_text())
    data = {key.removeprefix('/**/'): value for key, value in sections.items()}
    manager = data['controller_manager']['ros__parameters']
    declared = {k: v for k, v in manager.items() if isinstance(v, dict)}
    return data, declared


def test_controllers_are_declared_with_types_and_parameters():
    data, declared = _controllers()
    assert isinstance(data['controller_manager']['ros__parameters']['update_rate'], int)
    assert {name: c.get('type') for name, c in declared.items()} == {
        'joint_state_broadcaster': 'joint_state_broadcaster/JointStateBroadcaster',
        'joint_trajectory_controller': 'joint_trajectory_controller/JointTrajectoryController',
        'forward_position_controller': 'position_controllers/JointGroupPositionController',
        'gripper_controller': 'position_controllers/JointGroupPositionController',
    }
    # Every parameter section belongs to a declared controller (a typo would be ignored).
    assert set(data) - {'controller_manager'} <= set(declared)
    jtc = data['joint_trajectory_controller']['ros__parameters']
    assert jtc['joints'] == ARM_JOINTS
    assert jtc['command_interfaces'] == ['position']
    assert jtc['state_interfaces'] == ['position', 'velocity']
    assert jtc['allow_partial_joints_goal'] is False
    for name in ARM_JOINTS:
        assert set(jtc['constraints'][name]) == {'trajectory', 'goal'}
    assert data['forward_position_controller']['ros__parameters']['joints'] == ARM_JOINTS


def _walk_keys(value: object):
    if isinstance(value, dict):
        for key, sub in value.items():
            yield key
            yield from _walk_keys(sub)


def test_controllers_use_no_parameters_removed_in_jazzy():
    data, _ = _controllers()
    assert not REMOVED_IN_JAZZY & set(_walk_keys(data))


@pytest.mark.parametrize('hardware_type', ['mock', 'topic'])
def test_controllers_reference_only_joints_and_interfaces_of_the_urdf(hardware_type: str):
    data, declared = _controllers()
    robot = expand(hardware_type)
    urdf_joints = {j.get('name') for j in robot.findall('joint')}
    hardware = control_joints(robot)
    claimed: dict[tuple[str, str], list[str]] = {}
    for name in declared:
        params = data.get(name, {}).get('ros__parameters', {})
        joints = list(params.get('joints', [])) + ([params['joint']] if 'joint' in params else [])
        constraint_joints = [k for k, v in params.get('constraints', {}).items()
                             if isinstance(v, dict)]
        for joint in joints + constraint_joints:
            assert joint in urdf_joints, f'{name}: joint {joint!r} is not in the URDF'
            assert joint in hardware, f'{name}: joint {joint!r} has no ros2_control interfaces'
        commands = params.get('command_interfaces', ['position'] if joints else [])
        for joint in joints:
            for interface in commands:
                assert interface in hardware[joint]['command'], (name, joint, interface)
                claimed.setdefault((joint, interface), []).append(name)
            for interface in params.get('state_interfaces', []):
                assert interface in hardware[joint]['state'], (name, joint, interface)
    # Only the trajectory / forward pair may share command interfaces (one of them is inactive).
    for (joint, interface), owners in claimed.items():
        shared_ok = set(owners) == {'joint_trajectory_controller', 'forward_position_controller'}
        assert len(owners) == 1 or shared_ok, (joint, interface, owners)
