"""dojo_ros.params: dataclass-declared parameters against real rclpy nodes, overrides and YAML."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from dojo_ros.params import declare_parameters

MakeNode = Callable[..., Node]


def _doc(text: str, **extra: object) -> dict[str, object]:
    return {'description': text, **extra}


@dataclass
class CameraConfig:
    width: int = field(default=320, metadata=_doc('Image width in pixels.', range=(16, 4096)))
    fps: float = field(default=15.0, metadata=_doc('Frame rate in Hz.'))


@dataclass
class NodeConfig:
    rate_hz: float = field(default=10.0, metadata=_doc('Control loop rate, Hz.', range=(1, 1000)))
    joints: list[str] = field(
        default_factory=lambda: ['shoulder_pan', 'gripper'], metadata=_doc('Joints driven.')
    )
    gains: list[float] = field(default_factory=lambda: [1.0, 0.5], metadata=_doc('PD gains.'))
    enabled: bool = field(default=True, metadata=_doc('Start enabled.'))
    retries: int = field(default=3, metadata=_doc('Retries before giving up.'))
    port: str = field(default='/dev/ttyACM0', metadata=_doc('Serial port.', read_only=True))
    offsets: list[int] = field(default_factory=list, metadata=_doc('Encoder offsets, ticks.'))
    mask: list[bool] = field(default_factory=lambda: [True], metadata=_doc('Joint mask.'))
    front: CameraConfig = field(default_factory=CameraConfig)
    wrist: CameraConfig = field(default_factory=lambda: CameraConfig(width=64, fps=30.0))


@dataclass
class Undocumented:
    documented: int = field(default=1, metadata=_doc('Fine.'))
    rate_hz: float = 5.0


@dataclass
class EmptyDescription:
    rate_hz: float = field(default=5.0, metadata=_doc('  '))


@dataclass
class NoDefault:
    rate_hz: float = field(metadata=_doc('Rate.'))


@dataclass
class Unsupported:
    limit: float | None = field(default=None, metadata=_doc('Optional limit.'))


@dataclass
class RangeOnString:
    name: str = field(default='a', metadata=_doc('Name.', range=(0, 1)))


@dataclass
class BadDefault:
    retries: int = field(default=2.5, metadata=_doc('Retries.'))  # type: ignore[assignment]


@dataclass
class IntDefaultForFloat:
    rate_hz: float = field(default=30, metadata=_doc('Rate.'))


@dataclass
class Validated:
    low: float = field(default=0.0, metadata=_doc('Lower bound.'))
    high: float = field(default=1.0, metadata=_doc('Upper bound.'))

    def __post_init__(self) -> None:
        if self.low >= self.high:
            raise ValueError(f'low ({self.low}) must be below high ({self.high})')


@dataclass
class WithValidatedChild:
    limits: Validated = field(default_factory=Validated)


@dataclass
class SimTimeAware:
    use_sim_time: bool = field(default=False, metadata=_doc('Use /clock.'))
    rate_hz: float = field(default=2.0, metadata=_doc('Rate.'))


@dataclass
class WithDerived:
    rate_hz: float = field(default=4.0, metadata=_doc('Rate.'))
    period_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.period_s = 1.0 / self.rate_hz


@pytest.fixture
def make_node() -> Iterator[MakeNode]:
    context = Context()
    rclpy.init(context=context)
    nodes: list[Node] = []

    def make(**kwargs: object) -> Node:
        node = rclpy.create_node('params_test', context=context, **kwargs)
        nodes.append(node)
        return node

    try:
        yield make
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.shutdown(context=context)


def _yaml(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / 'params.yaml'
    path.write_text(text)
    return ['--ros-args', '--params-file', str(path)]


def test_defaults_and_descriptors(make_node: MakeNode) -> None:
    node = make_node()
    config = declare_parameters(node, NodeConfig)

    assert config == NodeConfig()
    assert config.wrist == CameraConfig(width=64, fps=30.0)  # default_factory values are kept
    types = {
        'rate_hz': Parameter.Type.DOUBLE, 'joints': Parameter.Type.STRING_ARRAY,
        'gains': Parameter.Type.DOUBLE_ARRAY, 'enabled': Parameter.Type.BOOL,
        'retries': Parameter.Type.INTEGER, 'port': Parameter.Type.STRING,
        'mask': Parameter.Type.BOOL_ARRAY, 'front.width': Parameter.Type.INTEGER,
        'front.fps': Parameter.Type.DOUBLE, 'wrist.width': Parameter.Type.INTEGER,
    }
    for name, expected in types.items():
        assert node.get_parameter(name).type_ == expected, name
    assert node.get_parameter('wrist.width').value == 64
    assert node.get_parameter('gains').value == [1.0, 0.5]

    rate = node.describe_parameter('rate_hz')
    assert rate.description == 'Control loop rate, Hz.'
    assert rate.type == Parameter.Type.DOUBLE.value
    assert (rate.floating_point_range[0].from_value, rate.floating_point_range[0].to_value) == (
        1.0, 1000.0)
    width = node.describe_parameter('front.width')
    assert (width.integer_range[0].from_value, width.integer_range[0].to_value) == (16, 4096)
    assert node.describe_parameter('port').read_only
    assert not node.describe_parameter('retries').read_only


def test_read_only_parameter_cannot_be_set_later(make_node: MakeNode) -> None:
    node = make_node()
    declare_parameters(node, NodeConfig)
    [result] = node.set_parameters([Parameter('port', value='/dev/ttyUSB0')])
    assert not result.successful
    [result] = node.set_parameters([Parameter('retries', value=5)])
    assert result.successful


def test_yaml_params_file_overrides_defaults(make_node: MakeNode, tmp_path: Path) -> None:
    cli_args = _yaml(tmp_path, """
params_test:
  ros__parameters:
    rate_hz: 50.0
    joints: [elbow_flex]
    enabled: false
    retries: 7
    port: /dev/ttyUSB1
    offsets: [5, -3]
    mask: [false, true]
    front:
      width: 640
      fps: 29.97
""")
    config = declare_parameters(make_node(cli_args=cli_args), NodeConfig)

    assert config.rate_hz == 50.0
    assert config.joints == ['elbow_flex']
    assert config.enabled is False
    assert config.retries == 7
    assert config.port == '/dev/ttyUSB1'
    assert config.offsets == [5, -3]
    assert config.mask == [False, True]
    assert config.front == CameraConfig(width=640, fps=29.97)
    assert config.wrist == CameraConfig(width=64, fps=30.0)
    assert config.gains == [1.0, 0.5]


def test_wildcard_yaml_and_integers_for_floats(make_node: MakeNode, tmp_path: Path) -> None:
    cli_args = _yaml(tmp_path, """
/**:
  ros__parameters:
    rate_hz: 30
    gains: [2, 1]
    front:
      fps: 25
""")
    node = make_node(cli_args=cli_args)
    config = declare_parameters(node, NodeConfig)

    assert config.rate_hz == 30.0 and isinstance(config.rate_hz, float)
    assert config.gains == [2.0, 1.0] and all(isinstance(g, float) for g in config.gains)
    assert config.front.fps == 25.0 and isinstance(config.front.fps, float)
    # The ROS parameters keep their declared types and descriptors.
    assert node.get_parameter('rate_hz').type_ == Parameter.Type.DOUBLE
    assert node.get_parameter('rate_hz').value == 30.0
    assert node.get_parameter('gains').type_ == Parameter.Type.DOUBLE_ARRAY
    assert node.describe_parameter('rate_hz').description == 'Control loop rate, Hz.'
    [result] = node.set_parameters([Parameter('rate_hz', value=40.0)])
    assert result.successful


def test_integer_override_for_float_via_parameter_overrides(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[
        Parameter('rate_hz', Parameter.Type.INTEGER, 30),
        Parameter('front.width', Parameter.Type.INTEGER, 1280),
    ])
    config = declare_parameters(node, NodeConfig)
    assert config.rate_hz == 30.0 and isinstance(config.rate_hz, float)
    assert config.front.width == 1280
    assert node.get_parameter('rate_hz').type_ == Parameter.Type.DOUBLE


def test_integer_default_for_float_field_is_declared_as_double(make_node: MakeNode) -> None:
    node = make_node()
    config = declare_parameters(node, IntDefaultForFloat)
    assert config.rate_hz == 30.0 and isinstance(config.rate_hz, float)
    assert node.get_parameter('rate_hz').type_ == Parameter.Type.DOUBLE


@pytest.mark.parametrize(('override', 'pattern'), [
    (Parameter('retries', Parameter.Type.DOUBLE, 2.5), "'retries'.*DOUBLE.*INTEGER"),
    (Parameter('enabled', Parameter.Type.INTEGER, 1), "'enabled'.*INTEGER.*BOOL"),
    (Parameter('rate_hz', Parameter.Type.STRING, 'fast'), "'rate_hz'.*STRING.*DOUBLE"),
    (Parameter('rate_hz', Parameter.Type.BOOL, True), "'rate_hz'.*BOOL.*DOUBLE"),
    (Parameter('gains', Parameter.Type.DOUBLE, 1.0), "'gains'.*DOUBLE.*DOUBLE_ARRAY"),
])
def test_wrong_override_type_is_a_type_error(
    make_node: MakeNode, override: Parameter, pattern: str
) -> None:
    node = make_node(parameter_overrides=[override])
    with pytest.raises(TypeError, match=pattern):
        declare_parameters(node, NodeConfig)
    assert not node.has_parameter(override.name)


def test_empty_lists(make_node: MakeNode, tmp_path: Path) -> None:
    # rcl's YAML parser turns [] into an unset parameter; the config still reads [].
    cli_args = _yaml(tmp_path, """
params_test:
  ros__parameters:
    joints: []
""")
    node = make_node(cli_args=cli_args)
    config = declare_parameters(node, NodeConfig)
    assert config.joints == []
    assert config.offsets == []  # empty default
    assert node.get_parameter_or('offsets').type_ == Parameter.Type.NOT_SET
    assert node.describe_parameter('offsets').type == Parameter.Type.INTEGER_ARRAY.value
    [result] = node.set_parameters([Parameter('offsets', value=[1, 2])])
    assert result.successful


def test_prefix_namespaces_every_name(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[Parameter('arm.front.width', value=800)])
    config = declare_parameters(node, NodeConfig, prefix='arm')
    assert config.front.width == 800
    assert node.has_parameter('arm.rate_hz')
    assert not node.has_parameter('rate_hz')


def test_range_violation_is_a_value_error(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[Parameter('front.width', value=8)])
    with pytest.raises(ValueError, match='front.width out of range'):
        declare_parameters(node, NodeConfig)


def test_range_violation_of_converted_integer_is_a_value_error(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[Parameter('rate_hz', value=5000)])
    with pytest.raises(ValueError, match='rate_hz out of range'):
        declare_parameters(node, NodeConfig)


def test_range_bounds_are_inclusive(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[
        Parameter('rate_hz', value=1000.0), Parameter('front.width', value=16)])
    config = declare_parameters(node, NodeConfig)
    assert (config.rate_hz, config.front.width) == (1000.0, 16)


def test_post_init_validation_runs(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[Parameter('low', value=2.0)])
    with pytest.raises(ValueError, match=r'invalid Validated: low \(2.0\) must be below high'):
        declare_parameters(node, Validated)


def test_post_init_error_of_nested_config_names_its_prefix(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[Parameter('limits.high', value=-1.0)])
    with pytest.raises(ValueError, match=r"invalid Validated \(parameters under 'limits'\)"):
        declare_parameters(node, WithValidatedChild)


@pytest.mark.parametrize('config_cls', [Undocumented, EmptyDescription])
def test_every_parameter_needs_a_description(make_node: MakeNode, config_cls: type) -> None:
    with pytest.raises(TypeError, match=rf"{config_cls.__name__}.rate_hz: .*'description'"):
        declare_parameters(make_node(), config_cls)


@pytest.mark.parametrize(('config_cls', 'pattern'), [
    (NoDefault, r'NoDefault.rate_hz: a parameter field needs a default'),
    (Unsupported, r'Unsupported.limit: unsupported parameter type'),
    (RangeOnString, r'RangeOnString.name: a range applies to int and float fields only'),
    (BadDefault, r"parameter 'retries' must be int, got 2.5"),
])
def test_bad_dataclass_definitions(make_node: MakeNode, config_cls: type, pattern: str) -> None:
    with pytest.raises(TypeError, match=pattern):
        declare_parameters(make_node(), config_cls)


def test_non_dataclass_is_rejected(make_node: MakeNode) -> None:
    with pytest.raises(TypeError, match='is not a dataclass'):
        declare_parameters(make_node(), dict)
    with pytest.raises(TypeError, match='is not a dataclass'):
        declare_parameters(make_node(), NodeConfig())  # type: ignore[call-overload]


def test_use_sim_time_is_read_not_redeclared(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[Parameter('use_sim_time', value=True)])
    config = declare_parameters(node, SimTimeAware)
    assert config.use_sim_time is True
    assert config.rate_hz == 2.0

    plain = declare_parameters(make_node(), SimTimeAware)
    assert plain.use_sim_time is False


def test_use_sim_time_does_not_disturb_other_configs(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[Parameter('use_sim_time', value=True)])
    declare_parameters(node, NodeConfig)
    assert node.get_parameter('use_sim_time').value is True


def test_fields_without_init_are_not_parameters(make_node: MakeNode) -> None:
    node = make_node(parameter_overrides=[Parameter('rate_hz', value=8.0)])
    config = declare_parameters(node, WithDerived)
    assert config.period_s == 0.125
    assert not node.has_parameter('period_s')


def test_config_is_plain_python_without_ros() -> None:
    # The same dataclass works in tests and scripts without a node.
    assert dataclasses.asdict(NodeConfig())['front'] == {'width': 320, 'fps': 15.0}


def test_empty_yaml_value_for_scalar_is_a_type_error(make_node: MakeNode, tmp_path: Path) -> None:
    cli_args = _yaml(tmp_path, """
params_test:
  ros__parameters:
    retries: []
""")
    with pytest.raises(TypeError, match=r"parameter 'retries' \(int\) is set to an empty value"):
        declare_parameters(make_node(cli_args=cli_args), NodeConfig)
