"""dojo_recorder: ROS 2 lifecycle node recording LeRobot v3 datasets live."""
