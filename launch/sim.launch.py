"""Simulated SO-101 cell: the MuJoCo sim node, robot_state_publisher and (optionally) RViz.

    ros2 launch dojo_bringup sim.launch.py                 # sim + TF
    ros2 launch dojo_bringup sim.launch.py rviz:=true      # ... and RViz
    ros2 launch dojo_bringup sim.launch.py namespace:=arm1 # everything under /arm1
    ros2 launch dojo_bringup sim.launch.py -s              # list every argument

The sim node publishes `joint_states`, the camera topics and `/clock`, and listens on
`joint_commands` (the JointStateTopicSystem contract). robot_state_publisher reads the relative
`joint_states` in the same namespace and publishes `robot_description` (transient local) and TF.
The robot description is expanded with hardware_type:=none: no ros2_control block is needed here.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import Command, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    use_sim_time = LaunchConfiguration('use_sim_time')
    namespace = LaunchConfiguration('namespace')
    rviz = LaunchConfiguration('rviz')
    sim_config = LaunchConfiguration('sim_config')

    bringup_share = FindPackageShare('dojo_bringup')
    urdf_file = PathJoinSubstitution([bringup_share, 'urdf', 'so101.urdf.xacro'])
    rviz_config = PathJoinSubstitution([bringup_share, 'config', 'dojo.rviz'])

    sim_time_param = {'use_sim_time': ParameterValue(use_sim_time, value_type=bool)}

    arguments = [
        DeclareLaunchArgument(
            'use_sim_time', default_value='true', choices=['true', 'false'],
            description='Use the /clock published by the sim node as ROS time.'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of every node and (relative) topic; empty = global.'),
        DeclareLaunchArgument(
            'rviz', default_value='false', choices=['true', 'false'],
            description='Start RViz with config/dojo.rviz (robot model, TF, both cameras).'),
        DeclareLaunchArgument(
            'sim_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'sim.yaml']),
            description='Parameter file of the sim node (node name sim_node).'),
    ]

    sim_node = Node(
        package='dojo_sim',
        executable='sim_node',
        name='sim_node',
        namespace=namespace,
        parameters=[sim_config, sim_time_param],
        output='screen',
        emulate_tty=True,
    )

    robot_state_publisher = Node(
        package='robot_state_publisher',
        executable='robot_state_publisher',
        name='robot_state_publisher',
        namespace=namespace,
        parameters=[
            {
                'robot_description': ParameterValue(
                    Command(['xacro ', urdf_file, ' hardware_type:=none']), value_type=str),
            },
            sim_time_param,
        ],
        output='screen',
    )

    rviz_node = Node(
        package='rviz2',
        executable='rviz2',
        name='rviz2',
        namespace=namespace,
        arguments=['-d', rviz_config],
        parameters=[sim_time_param],
        condition=IfCondition(rviz),
        output='screen',
    )

    return LaunchDescription([*arguments, sim_node, robot_state_publisher, rviz_node])
