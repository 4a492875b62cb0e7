"""The QoS profiles dojo nodes use, one per kind of traffic.

QoS mismatches fail silently in ROS 2 (publisher and subscription simply never connect), so every
dojo node takes its profile from here instead of spelling one out. Compatibility rules that drive
the choices: a best-effort subscription hears reliable and best-effort publishers, a reliable one
hears only reliable publishers; a transient-local subscription hears only transient-local
publishers.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Camera images, joint states, other high-rate sensor streams: best effort, keep last 5, volatile
#: (identical to rclpy's ``qos_profile_sensor_data``). A late sample is worthless, so nothing is
#: retransmitted, and subscriptions with this profile also hear reliable publishers.
SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)

#: Joint commands, trajectories, task requests: reliable, keep last 10, volatile. A lost command
#: is a silent fault; an old command replayed to a late subscriber would be dangerous, hence
#: volatile.
COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

#: State that is published once and must reach subscribers that start later (robot_description,
#: the current task description): reliable, transient local, keep last 1. Subscriptions must use
#: it too, a volatile subscription never receives the stored sample.
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

#: Publishing /clock from a simulator: best effort, keep last 1, volatile, like rclcpp's ClockQoS
#: and Gazebo. rclpy's TimeSource subscribes with ``QoSProfile(depth=1, reliability=BEST_EFFORT)``;
#: only the newest time matters, and a reliable publisher would stall the simulation on a slow
#: subscriber.
CLOCK_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
