"""Teleoperation: the follower (real arm or the MuJoCo cell) copies a torque-off leader arm.

    ros2 launch dojo_bringup teleop.launch.py usb_port:=/dev/ttyACM0 leader_port:=/dev/ttyACM1
    ros2 launch dojo_bringup teleop.launch.py ... autostart:=true        # follower torque on at once
    ros2 launch dojo_bringup teleop.launch.py hardware_type:=sim leader_port:=/dev/ttyACM1
    ros2 launch dojo_bringup teleop.launch.py -s                         # list every argument

robot.launch.py with a mirroring `leader_arm`: the leader publishes `leader/joint_states` and the
same positions on `joint_commands`, which arm_driver (clamped, step-limited) or sim_node follow.
arm_driver is a lifecycle node: without autostart, `ros2 lifecycle set /arm_driver configure` and
`activate` switch the follower's torque on. record.launch.py adds cameras and the recorder.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.substitutions import EqualsSubstitution, IfElseSubstitution, LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    hardware_type = LaunchConfiguration('hardware_type')
    bringup_share = FindPackageShare('dojo_bringup')

    arguments = [
        DeclareLaunchArgument(
            'hardware_type', default_value='real', choices=['real', 'sim'],
            description='The follower: real (arm_driver on usb_port) or sim (the MuJoCo cell).'),
        DeclareLaunchArgument(
            'usb_port', default_value='/dev/ttyACM0',
            description='Serial port of the follower arm (hardware_type:=real).'),
        DeclareLaunchArgument(
            'leader_port', default_value='/dev/ttyACM1', description='Serial port of the leader arm.'),
        DeclareLaunchArgument(
            'robot_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'hardware', 'so101_feetech.yaml']),
            description='Parameter file of arm_driver and leader_arm (bus, motor ids, calibration); '
                        'config/hardware/koch_dynamixel.yaml for a Dynamixel arm.'),
        DeclareLaunchArgument(
            'cameras', default_value='',
            description='Comma-separated camera names (hardware_type:=real), as in robot.launch.py.'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of every node and (relative) topic; empty = global.'),
        DeclareLaunchArgument(
            'rviz', default_value='false', choices=['true', 'false'],
            description='Start RViz with config/dojo.rviz.'),
        DeclareLaunchArgument(
            'autostart', default_value='false', choices=['true', 'false'],
            description='Configure and activate arm_driver at start: the follower switches its torque on '
                        'and moves to the leader at once.'),
    ]

    robot = IncludeLaunchDescription(
        PathJoinSubstitution([bringup_share, 'launch', 'robot.launch.py']),
        launch_arguments={
            'hardware_type': hardware_type,
            'usb_port': LaunchConfiguration('usb_port'),
            'leader_port': LaunchConfiguration('leader_port'),
            'mirror': 'true',
            'robot_config': LaunchConfiguration('robot_config'),
            'cameras': LaunchConfiguration('cameras'),
            'namespace': LaunchConfiguration('namespace'),
            'rviz': LaunchConfiguration('rviz'),
            'autostart': LaunchConfiguration('autostart'),
            # the leader stamps its commands on the follower's clock: sim time for the cell
            'use_sim_time': IfElseSubstitution(EqualsSubstitution(hardware_type, 'sim'), 'true', 'false'),
        }.items(),
    )
    return LaunchDescription([*arguments, robot])
