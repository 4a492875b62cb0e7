"""Kinematics and motion generation (ROS-free)."""
