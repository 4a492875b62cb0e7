"""dojo_hardware: ROS 2 drivers for real arms: the Feetech/Dynamixel arm_driver lifecycle node and the leader_arm teleop node."""
