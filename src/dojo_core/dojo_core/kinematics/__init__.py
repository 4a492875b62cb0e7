"""Kinematics and motion generation (ROS-free).

`model` (RobotModel: pinocchio FK, Jacobians, limits from the URDF), `ik` (IKSolver), `trajectory`
(minimum-jerk timing, Segment, JointPlan) and `cartesian` (straight-line tool moves). Import the
modules directly: this package imports nothing itself, so `trajectory` stays free of pinocchio.
"""
