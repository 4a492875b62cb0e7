"""Serve a trained policy: the robot or the sim cell, and policy_node running a checkpoint.

    ros2 launch dojo_bringup serve.launch.py checkpoint:=outputs/act/checkpoints/last/pretrained_model
    ros2 launch dojo_bringup serve.launch.py checkpoint:=me/act_so101 device:=cuda   # a Hub repo id
    ros2 launch dojo_bringup serve.launch.py hardware_type:=real usb_port:=/dev/ttyACM0 \\
        cameras:=front,wrist checkpoint:=... autostart:=true
    ros2 launch dojo_bringup serve.launch.py -s                                      # list every argument

robot.launch.py brings up the arm (or sim.launch.py the cell) and policy_node (config/policy.yaml)
loads `checkpoint`, reads the topics of the feature map embedded in it (or of `feature_map`, which
must then agree with the checkpoint) and publishes `joint_commands`, clamped to the URDF limits and
step-limited. policy_node and arm_driver are lifecycle nodes: without autostart, configure and
activate them with `ros2 lifecycle set`; `ros2 service call /policy_node/enable
std_srvs/srv/SetBool "{data: false}"` pauses the policy (the arm holds).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.substitutions import EqualsSubstitution, IfElseSubstitution, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    hardware_type = LaunchConfiguration('hardware_type')
    namespace = LaunchConfiguration('namespace')
    autostart = LaunchConfiguration('autostart')
    bringup_share = FindPackageShare('dojo_bringup')
    use_sim_time = IfElseSubstitution(EqualsSubstitution(hardware_type, 'sim'), 'true', 'false')

    arguments = [
        DeclareLaunchArgument(
            'checkpoint',
            description='Policy checkpoint: a local directory (config.json + model.safetensors, e.g. '
                        '<run>/checkpoints/last/pretrained_model) or a Hugging Face Hub repo id.'),
        DeclareLaunchArgument(
            'feature_map', default_value='',
            description='Feature map override: a name in config/features or a YAML path; empty = the map '
                        'embedded in the checkpoint.'),
        DeclareLaunchArgument(
            'device', default_value='auto',
            description='Torch device of the model (cpu, cuda, cuda:1, ...); auto = cuda when available.'),
        DeclareLaunchArgument(
            'policy_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'policy.yaml']),
            description='Parameter file of policy_node (execution, safety limits, command type); the '
                        'arguments above override it.'),
        DeclareLaunchArgument(
            'hardware_type', default_value='sim', choices=['real', 'sim'],
            description='real: arm_driver on usb_port and camera_node per camera; sim: the MuJoCo cell.'),
        DeclareLaunchArgument(
            'usb_port', default_value='/dev/ttyACM0',
            description='Serial port of the follower arm (hardware_type:=real).'),
        DeclareLaunchArgument(
            'robot_config',
            default_value=PathJoinSubstitution([bringup_share, 'config', 'hardware', 'so101_feetech.yaml']),
            description='Parameter file of arm_driver (bus, motor ids, calibration).'),
        DeclareLaunchArgument(
            'cameras', default_value='',
            description='Comma-separated camera names (hardware_type:=real), as in robot.launch.py; they '
                        'must be the cameras the policy was trained with.'),
        DeclareLaunchArgument(
            'autostart', default_value='false', choices=['true', 'false'],
            description='Configure and activate policy_node (and arm_driver) at start: the policy moves '
                        'the arm at once.'),
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
            'robot_config': LaunchConfiguration('robot_config'),
            'cameras': LaunchConfiguration('cameras'),
            'autostart': autostart,
            'namespace': namespace,
            'rviz': LaunchConfiguration('rviz'),
            'use_sim_time': use_sim_time,
        }.items(),
    )

    policy = Node(
        package='dojo_policy', executable='policy_node', name='policy_node', namespace=namespace,
        parameters=[LaunchConfiguration('policy_config'), {
            'use_sim_time': ParameterValue(use_sim_time, value_type=bool),
            'checkpoint': ParameterValue(LaunchConfiguration('checkpoint'), value_type=str),
            'feature_map': ParameterValue(LaunchConfiguration('feature_map'), value_type=str),
            'device': ParameterValue(LaunchConfiguration('device'), value_type=str),
            'autostart': ParameterValue(autostart, value_type=bool),
        }],
        output='screen',
    )
    return LaunchDescription([*arguments, robot, policy])
