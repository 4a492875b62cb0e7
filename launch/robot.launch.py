"""The SO-101 (or a Koch-style arm) as one ROS graph, real, mocked or simulated.

    ros2 launch dojo_bringup robot.launch.py hardware_type:=real usb_port:=/dev/ttyACM0
    ros2 launch dojo_bringup robot.launch.py hardware_type:=real usb_port:=/dev/ttyACM0 \\
        leader_port:=/dev/ttyACM1 cameras:=front,wrist rviz:=true
    ros2 launch dojo_bringup robot.launch.py hardware_type:=real \\
        robot_config:=/path/to/koch_dynamixel.yaml            # a Dynamixel arm
    ros2 launch dojo_bringup robot.launch.py hardware_type:=mock # ros2_control mock system
    ros2 launch dojo_bringup robot.launch.py hardware_type:=sim  # the MuJoCo cell (sim.launch.py)
    ros2 launch dojo_bringup robot.launch.py -s                  # list every argument

Whatever the hardware, the graph speaks the same topics: `joint_states` (measured, radians) and
`joint_commands` (sensor_msgs/JointState targets by name), `cameras/<name>/image_raw` and
`camera_info`, TF from robot_state_publisher, `/diagnostics`.

* any hardware: a `leader_arm` node when `leader_port` is given (it publishes
  `leader/joint_states` and, with `mirror:=true`, drives `joint_commands`; teleop.launch.py).
* real: the `arm_driver` lifecycle node on `usb_port` (bus, motor ids and calibration from
  `robot_config`), one
  `camera_node` per entry of `cameras`, and robot_state_publisher. With `ros2_control:=true` the
  driver is moved to `hardware/joint_states` / `hardware/joint_commands` and ros2_control's
  JointStateTopicSystem talks to it (controllers from config/controllers.yaml), so
  joint_trajectory_controller and friends drive the real arm. arm_driver starts unconfigured:
  `ros2 lifecycle set /arm_driver configure` then `activate` (or `autostart:=true`).
* mock: ros2_control_node with mock_components/GenericSystem plus the same controllers, for desk
  work without an arm.
* sim: includes sim.launch.py (sim_node, robot_state_publisher, RViz).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import (AndSubstitution, Command, EqualsSubstitution, IfElseSubstitution,
                                  LaunchConfiguration, NotSubstitution, PathJoinSubstitution)
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def _camera_nodes(context, *args, **kwargs):
    """One camera_node per name in `cameras`, named `<name>_camera`: its section of `camera_config`."""
    names = [n.strip() for n in LaunchConfiguration('cameras').perform(context).split(',') if n.strip()]
    params_file = LaunchConfiguration('camera_config').perform(context)
    namespace = LaunchConfiguration('namespace').perform(context)
    use_sim_time = LaunchConfiguration('use_sim_time').perform(context) == 'true'
    return [Node(package='dojo_cameras', executable='camera_node', name=f'{name}_camera',
                 namespace=namespace, parameters=[params_file, {'use_sim_time': use_sim_time}],
                 output='screen')
            for name in names]


def generate_launch_description() -> LaunchDescription:
    hardware_type = LaunchConfiguration('hardware_type')
    usb_port = LaunchConfiguration('usb_port')
    leader_port = LaunchConfiguration('leader_port')
    mirror = LaunchConfiguration('mirror')
    robot_config = LaunchConfiguration('robot_config')
    namespace = LaunchConfiguration('namespace')
    use_sim_time = LaunchConfiguration('use_sim_time')
    rviz = LaunchConfiguration('rviz')
    ros2_control = LaunchConfiguration('ros2_control')
    autostart = LaunchConfiguration('autostart')

    bringup_share = FindPackageShare('dojo_bringup')
    urdf_file = PathJoinSubstitution([bringup_share, 'urdf', 'so101.urdf.xacro'])
    controllers = PathJoinSubstitution([bringup_share, 'config', 'controllers.yaml'])
    rviz_config = PathJoinSubstitution([bringup_share, 'config', 'dojo.rviz'])
    sim_time_param = {'use_sim_time': ParameterValue(use_sim_time, value_type=bool)}

    arguments = [
        DeclareLaunchArgument(
            'hardware_type', default_value='real', choices=['real', 'mock', 'sim'],
            description='real: arm_driver on a serial bus; mock: ros2_control mock system; '
                        'sim: the MuJoCo cell (sim.launch.py).'),
        DeclareLaunchArgument(
            'usb_port', default_value='/dev/ttyACM0',
            description='Serial port of the follower arm (hardware_type:=real).'),
        DeclareLaunchArgument(
            'leader_port', default_value='',
            description='Serial port of the leader arm (any hardware_type); empty = no leader_arm.'),
        DeclareLaunchArgument(
            'mirror', default_value='false', choices=['true', 'false'],
            description='leader_arm also publishes its positions on joint_commands: the follower (or the '
                        'sim) copies the leader.'),
        DeclareLaunchArgument(
            'robot_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'hardware', 'so101_feetech.yaml']),
            description='Parameter file of arm_driver and leader_arm (bus, motor ids, calibration); '
                        'config/hardware/koch_dynamixel.yaml for a Dynamixel arm.'),
        DeclareLaunchArgument(
            'cameras', default_value='',
            description='Comma-separated camera names (hardware_type:=real); camera <name> runs as '
                        'node <name>_camera with its section of camera_config.'),
        DeclareLaunchArgument(
            'camera_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'cameras', 'camera_node.yaml']),
            description='camera_node parameter file with a /**/<name>_camera section per camera.'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of every node and (relative) topic; empty = global.'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false', choices=['true', 'false'],
            description='Use /clock as ROS time (hardware_type:=sim always does).'),
        DeclareLaunchArgument(
            'rviz', default_value='false', choices=['true', 'false'],
            description='Start RViz with config/dojo.rviz.'),
        DeclareLaunchArgument(
            'ros2_control', default_value='false', choices=['true', 'false'],
            description='hardware_type:=real: put ros2_control (JointStateTopicSystem + the '
                        'controllers of config/controllers.yaml) between clients and arm_driver.'),
        DeclareLaunchArgument(
            'autostart', default_value='false', choices=['true', 'false'],
            description='Configure and activate arm_driver at start (torque on!) instead of waiting '
                        'for `ros2 lifecycle set`.'),
    ]

    real = EqualsSubstitution(hardware_type, 'real')
    mock = EqualsSubstitution(hardware_type, 'mock')
    sim = EqualsSubstitution(hardware_type, 'sim')
    control = AndSubstitution(real, ros2_control)
    # The ros2_control block the robot description carries: mock hardware, the topic system in
    # front of arm_driver, or none. controller_manager reads the description from the topic
    # robot_state_publisher latches, so both see the same URDF.
    urdf_hardware = IfElseSubstitution(mock, 'mock', IfElseSubstitution(control, 'topic', 'none'))
    description = ParameterValue(Command([
        'xacro ', urdf_file, ' hardware_type:=', urdf_hardware,
        ' joint_commands_topic:=hardware/joint_commands joint_states_topic:=hardware/joint_states']),
        value_type=str)

    simulation = IncludeLaunchDescription(
        PathJoinSubstitution([bringup_share, 'launch', 'sim.launch.py']),
        launch_arguments={'namespace': namespace, 'rviz': rviz, 'use_sim_time': 'true'}.items(),
        condition=IfCondition(sim),
    )

    driver_params = [robot_config, {'port': usb_port, 'autostart': ParameterValue(autostart, value_type=bool)},
                     sim_time_param]
    arm_driver = Node(
        package='dojo_hardware', executable='arm_driver', name='arm_driver', namespace=namespace,
        parameters=driver_params,
        condition=IfCondition(AndSubstitution(real, NotSubstitution(ros2_control))),
        output='screen',
    )
    arm_driver_behind_control = Node(
        package='dojo_hardware', executable='arm_driver', name='arm_driver', namespace=namespace,
        parameters=driver_params,
        remappings=[('joint_states', 'hardware/joint_states'),
                    ('joint_commands', 'hardware/joint_commands')],
        condition=IfCondition(control),
        output='screen',
    )
    leader_arm = Node(
        package='dojo_hardware', executable='leader_arm', name='leader_arm', namespace=namespace,
        parameters=[robot_config, {'port': leader_port, 'mirror': ParameterValue(mirror, value_type=bool)},
                    sim_time_param],
        condition=IfCondition(NotSubstitution(EqualsSubstitution(leader_port, ''))),
        output='screen',
    )
    cameras = OpaqueFunction(function=_camera_nodes, condition=IfCondition(real))

    controller_manager = Node(
        package='controller_manager', executable='ros2_control_node', namespace=namespace,
        parameters=[controllers, sim_time_param],
        remappings=[('~/robot_description', 'robot_description')],
        condition=IfCondition(IfElseSubstitution(mock, 'true', control)),
        output='screen',
    )
    spawner = Node(
        package='controller_manager', executable='spawner', namespace=namespace,
        arguments=['joint_state_broadcaster', 'forward_position_controller', 'gripper_controller',
                   '--param-file', controllers],
        condition=IfCondition(IfElseSubstitution(mock, 'true', control)),
        output='screen',
    )

    robot_state_publisher = Node(
        package='robot_state_publisher', executable='robot_state_publisher',
        name='robot_state_publisher', namespace=namespace,
        parameters=[{'robot_description': description}, sim_time_param],
        condition=IfCondition(NotSubstitution(sim)),
        output='screen',
    )
    rviz_node = Node(
        package='rviz2', executable='rviz2', name='rviz2', namespace=namespace,
        arguments=['-d', rviz_config], parameters=[sim_time_param],
        condition=IfCondition(AndSubstitution(rviz, NotSubstitution(sim))),
        output='screen',
    )

    return LaunchDescription([
        *arguments, simulation, arm_driver, arm_driver_behind_control, leader_arm, cameras,
        controller_manager, spawner, robot_state_publisher, rviz_node,
    ])
