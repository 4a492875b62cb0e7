"""Joint position commands in the three forms an SO-101 can take them.

* `joint_state`: sensor_msgs/JointState by name, every action joint (the JointStateTopicSystem
  contract: sim_node, arm_driver, ros2_control's topic hardware).
* `position_controller`: std_msgs/Float64MultiArray in the order of `controller_joints`, to a
  forward_position_controller (config/controllers.yaml: the five arm joints).
* `trajectory_controller`: trajectory_msgs/JointTrajectory with one point one control period
  ahead, to a joint_trajectory_controller; each message replaces the previous trajectory.

With the controller forms, the action joints the controller does not own (the gripper) go as a
Float64MultiArray to `gripper_topic` (a gripper_controller's ~/commands).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dojo_ros.joint_state import vector_to_joint_state
from dojo_ros.qos import COMMAND_QOS

COMMAND_TYPES = ('joint_state', 'position_controller', 'trajectory_controller')
_CONTROLLER_TOPICS = {'position_controller': 'forward_position_controller/commands',
                      'trajectory_controller': 'joint_trajectory_controller/joint_trajectory'}


def default_topic(command_type: str, action_topic: str) -> str:
    """Where commands go when no topic is configured: the feature map's action topic for
    JointState (what the recorder recorded as the action), the controller's own topic otherwise."""
    return action_topic if command_type == 'joint_state' else _CONTROLLER_TOPICS[command_type]


def _duration(seconds: float) -> Duration:
    ns = round(seconds * 1e9)
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


class CommandOutput:
    """Publishes joint positions (rad, in `joints` order) in the configured form."""

    def __init__(self, node: Node, command_type: str, joints: Sequence[str], *, topic: str,
                 controller_joints: Sequence[str] = (), gripper_topic: str = '', period_s: float) -> None:
        if command_type not in COMMAND_TYPES:
            raise ValueError(f'command_type must be one of {COMMAND_TYPES}, got {command_type!r}')
        self.node = node
        self.command_type = command_type
        self.joints = tuple(joints)
        self.topic = topic
        self.published = 0
        self._publishers = []
        self._point_time = _duration(period_s)
        if command_type == 'joint_state':
            self._main = self._create(JointState, self.topic)
            return
        unknown = [j for j in controller_joints if j not in self.joints]
        if not controller_joints or unknown or len(set(controller_joints)) != len(controller_joints):
            raise ValueError(f'controller_joints must be distinct action joints {list(self.joints)}, '
                             f'got {list(controller_joints)}')
        self.controller_joints = tuple(controller_joints)
        self._controller_index = [self.joints.index(j) for j in self.controller_joints]
        self.other_joints = tuple(j for j in self.joints if j not in self.controller_joints)
        self._other_index = [self.joints.index(j) for j in self.other_joints]
        if self.other_joints and not gripper_topic:
            raise ValueError(f'action joints {list(self.other_joints)} are not in controller_joints and '
                             'gripper_topic is empty: they would never be commanded')
        self.gripper_topic = gripper_topic if self.other_joints else ''
        kind = Float64MultiArray if command_type == 'position_controller' else JointTrajectory
        self._main = self._create(kind, self.topic)
        self._gripper = self._create(Float64MultiArray, self.gripper_topic) if self.other_joints else None

    def _create(self, kind: type, topic: str):
        publisher = self.node.create_publisher(kind, topic, COMMAND_QOS)
        self._publishers.append(publisher)
        return publisher

    def describe(self) -> str:
        if self.command_type == 'joint_state':
            return f'sensor_msgs/JointState on {self.topic}'
        main = 'std_msgs/Float64MultiArray' if self.command_type == 'position_controller' else \
            'trajectory_msgs/JointTrajectory'
        text = f'{main} of {list(self.controller_joints)} on {self.topic}'
        if self.other_joints:
            text += f', std_msgs/Float64MultiArray of {list(self.other_joints)} on {self.gripper_topic}'
        return text

    def publish(self, positions: np.ndarray, stamp: Time) -> None:
        values = [float(v) for v in positions]
        if self.command_type == 'joint_state':
            self._main.publish(vector_to_joint_state(self.joints, values, stamp=stamp))
        else:
            arm = [values[i] for i in self._controller_index]
            if self.command_type == 'position_controller':
                self._main.publish(Float64MultiArray(data=arm))
            else:
                # A zero header stamp: the controller starts the trajectory when it receives it.
                point = JointTrajectoryPoint(positions=arm, time_from_start=self._point_time)
                self._main.publish(JointTrajectory(joint_names=list(self.controller_joints), points=[point]))
            if self._gripper is not None:
                self._gripper.publish(Float64MultiArray(data=[values[i] for i in self._other_index]))
        self.published += 1

    def destroy(self) -> None:
        for publisher in self._publishers:
            self.node.destroy_publisher(publisher)
        self._publishers.clear()
