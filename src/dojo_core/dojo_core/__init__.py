"""dojo_core: the ROS-free core of dojo (sim cell, robot model, learning code, the `dojo` CLI).

Never imports rclpy: everything here must run on a training box without ROS.
"""
