"""Record a LeRobot v3 dataset: the robot or the sim cell, its cameras, recorder_node and a teleoperator.

    ros2 launch dojo_bringup record.launch.py                                  # sim + the scripted expert
    ros2 launch dojo_bringup record.launch.py repo_id:=me/pick_cube episodes:=50
    ros2 launch dojo_bringup record.launch.py hardware_type:=real teleop:=leader \\
        usb_port:=/dev/ttyACM0 leader_port:=/dev/ttyACM1 cameras:=front,wrist \\
        features:=/path/to/so101_real.yaml autostart:=true                    # a human on the leader arm
    ros2 launch dojo_bringup record.launch.py -s                               # list every argument

robot.launch.py brings up the arm (or sim.launch.py the cell, with both cameras), and recorder_node
(config/recorder.yaml, autostarted) records the topics of the feature map `features`. The episodes:

* teleop:=expert (sim only): pick_place_expert (config/expert.yaml) plays `episodes` episodes and
  drives the recorder's start/stop/discard_episode services itself; it exits when done.
* teleop:=leader: leader_arm mirrors onto the follower (as teleop.launch.py); start and stop each
  episode with `ros2 service call /recorder_node/start_episode std_srvs/srv/Trigger` (stop_episode
  saves, discard_episode drops).
* teleop:=none: something else commands the arm (ik_node, a script); the services as above.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.substitutions import EqualsSubstitution, IfElseSubstitution, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    hardware_type = LaunchConfiguration('hardware_type')
    teleop = LaunchConfiguration('teleop')
    namespace = LaunchConfiguration('namespace')
    bringup_share = FindPackageShare('dojo_bringup')

    sim = EqualsSubstitution(hardware_type, 'sim')
    use_sim_time = IfElseSubstitution(sim, 'true', 'false')
    sim_time_param = {'use_sim_time': ParameterValue(use_sim_time, value_type=bool)}

    arguments = [
        DeclareLaunchArgument(
            'hardware_type', default_value='sim', choices=['real', 'sim'],
            description='real: arm_driver on usb_port and camera_node per camera; sim: the MuJoCo cell.'),
        DeclareLaunchArgument(
            'teleop', default_value='expert', choices=['expert', 'leader', 'none'],
            description='Who moves the arm: the scripted expert (sim only; it also starts and stops the '
                        'episodes), the leader arm on leader_port (mirroring), or none.'),
        DeclareLaunchArgument(
            'usb_port', default_value='/dev/ttyACM0',
            description='Serial port of the follower arm (hardware_type:=real).'),
        DeclareLaunchArgument(
            'leader_port', default_value='/dev/ttyACM1',
            description='Serial port of the leader arm (teleop:=leader).'),
        DeclareLaunchArgument(
            'robot_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'hardware', 'so101_feetech.yaml']),
            description='Parameter file of arm_driver and leader_arm (bus, motor ids, calibration).'),
        DeclareLaunchArgument(
            'cameras', default_value='',
            description='Comma-separated camera names (hardware_type:=real), as in robot.launch.py; the '
                        'sim cell always publishes front and wrist.'),
        DeclareLaunchArgument(
            'autostart', default_value='false', choices=['true', 'false'],
            description='hardware_type:=real: configure and activate arm_driver at start (torque on).'),
        DeclareLaunchArgument(
            'features', default_value='so101_sim',
            description='Feature map of the dataset: a name in config/features or a YAML path (which '
                        'topic fills which LeRobot feature, in which units, at which fps).'),
        DeclareLaunchArgument(
            'repo_id', default_value='dojo/so101_sim', description='Dataset repo id (<user>/<name>).'),
        DeclareLaunchArgument(
            'root', default_value='',
            description='Dataset directory; empty = $HF_LEROBOT_HOME/<repo_id>.'),
        DeclareLaunchArgument(
            'recorder_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'recorder.yaml']),
            description='Parameter file of recorder_node (codec, episode limit, hub push); repo_id, root '
                        'and features above override it.'),
        DeclareLaunchArgument(
            'expert_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'expert.yaml']),
            description='Parameter file of pick_place_expert (teleop:=expert): the plan and its noise.'),
        DeclareLaunchArgument(
            'episodes', default_value='10',
            description='Episodes the expert plays (teleop:=expert); 0 = until stopped.'),
        DeclareLaunchArgument(
            'seed', default_value='0', description='First cube seed of the expert (teleop:=expert).'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace of every node and (relative) topic; empty = global.'),
        DeclareLaunchArgument(
            'rviz', default_value='false', choices=['true', 'false'],
            description='Start RViz with config/dojo.rviz.'),
    ]

    robot = IncludeLaunchDescription(
        PathJoinSubstitution([bringup_share, 'launch', 'robot.launch.py']),
        launch_arguments={
            'hardware_type': hardware_type,
            'usb_port': LaunchConfiguration('usb_port'),
            'leader_port': IfElseSubstitution(EqualsSubstitution(teleop, 'leader'),
                                              LaunchConfiguration('leader_port'), ''),
            'mirror': 'true',
            'robot_config': LaunchConfiguration('robot_config'),
            'cameras': LaunchConfiguration('cameras'),
            'autostart': LaunchConfiguration('autostart'),
            'namespace': namespace,
            'rviz': LaunchConfiguration('rviz'),
            'use_sim_time': use_sim_time,
        }.items(),
    )

    recorder = Node(
        package='dojo_recorder', executable='recorder_node', name='recorder_node', namespace=namespace,
        parameters=[LaunchConfiguration('recorder_config'), sim_time_param, {
            'repo_id': LaunchConfiguration('repo_id'),
            'root': ParameterValue(LaunchConfiguration('root'), value_type=str),
            'features': LaunchConfiguration('features'),
        }],
        output='screen',
    )
    expert = Node(
        package='dojo_sim', executable='pick_place_expert', name='pick_place_expert', namespace=namespace,
        parameters=[LaunchConfiguration('expert_config'), {   # the node always runs on sim time
            'use_recorder': True,
            'episodes': ParameterValue(LaunchConfiguration('episodes'), value_type=int),
            'seed': ParameterValue(LaunchConfiguration('seed'), value_type=int),
        }],
        condition=IfCondition(EqualsSubstitution(teleop, 'expert')),
        output='screen',
    )
    return LaunchDescription([*arguments, robot, recorder, expert])
