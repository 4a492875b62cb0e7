"""dojo_ros.qos: profile values, compatibility rules, and the two that matter end to end."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSCompatibility,
    QoSProfile,
    ReliabilityPolicy,
    qos_check_compatible,
    qos_profile_sensor_data,
)
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

from dojo_ros.qos import CLOCK_QOS, COMMAND_QOS, LATCHED_QOS, SENSOR_QOS

# What rclpy's TimeSource subscribes to /clock with (rclpy/time_source.py, Jazzy).
TIME_SOURCE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)

Ros = tuple[Context, SingleThreadedExecutor, list[Node]]


def _policies(profile: QoSProfile) -> tuple[object, ...]:
    return profile.history, profile.depth, profile.reliability, profile.durability


def test_profile_values() -> None:
    keep_last = HistoryPolicy.KEEP_LAST
    assert _policies(SENSOR_QOS) == (
        keep_last, 5, ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE)
    assert _policies(COMMAND_QOS) == (
        keep_last, 10, ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE)
    assert _policies(LATCHED_QOS) == (
        keep_last, 1, ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL)
    assert _policies(CLOCK_QOS) == (
        keep_last, 1, ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE)


def test_sensor_qos_is_rclpy_sensor_data_profile() -> None:
    assert SENSOR_QOS == qos_profile_sensor_data


@pytest.mark.parametrize(('publisher', 'subscription', 'connects'), [
    (CLOCK_QOS, TIME_SOURCE_QOS, True),
    (COMMAND_QOS, SENSOR_QOS, True),  # best-effort subscriptions hear reliable publishers
    (SENSOR_QOS, SENSOR_QOS, True),
    (COMMAND_QOS, COMMAND_QOS, True),
    (LATCHED_QOS, LATCHED_QOS, True),
    (LATCHED_QOS, COMMAND_QOS, True),  # connects, but gets no stored sample
    (SENSOR_QOS, COMMAND_QOS, False),  # a reliable subscription never hears best effort
    (COMMAND_QOS, LATCHED_QOS, False),
])
def test_compatibility(publisher: QoSProfile, subscription: QoSProfile, connects: bool) -> None:
    # WARNING only means "liveliness is system default, cannot tell"; ERROR means no connection.
    compatibility, reason = qos_check_compatible(publisher, subscription)
    assert (compatibility != QoSCompatibility.ERROR) == connects, reason


@pytest.fixture
def ros() -> Iterator[Ros]:
    context = Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes: list[Node] = []
    try:
        yield context, executor, nodes
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.shutdown(context=context)


def _spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)


def test_latched_sample_reaches_late_subscriber(ros: Ros) -> None:
    context, executor, nodes = ros
    talker = rclpy.create_node('describer', context=context)
    nodes.append(talker)
    talker.create_publisher(String, 'task_description', LATCHED_QOS).publish(
        String(data='stack the red cube'))

    listener = rclpy.create_node('late_listener', context=context)
    nodes.append(listener)
    received: list[str] = []
    listener.create_subscription(
        String, 'task_description', lambda msg: received.append(msg.data), LATCHED_QOS)
    executor.add_node(listener)

    _spin_until(executor, lambda: bool(received), timeout=10.0)
    assert received == ['stack the red cube']


def test_clock_published_with_clock_qos_drives_sim_time(ros: Ros) -> None:
    context, executor, nodes = ros
    sim = rclpy.create_node('sim', context=context)
    nodes.append(sim)
    clock_pub = sim.create_publisher(Clock, '/clock', CLOCK_QOS)
    follower = rclpy.create_node(
        'follower', context=context,
        parameter_overrides=[Parameter('use_sim_time', value=True)])
    nodes.append(follower)
    executor.add_node(follower)

    stamp = Clock()
    stamp.clock.sec, stamp.clock.nanosec = 42, 500_000_000
    expected_ns = 42_500_000_000

    def published_time_arrived() -> bool:
        clock_pub.publish(stamp)  # best effort: repeat until discovery has matched the endpoints
        return follower.get_clock().now().nanoseconds == expected_ns

    _spin_until(executor, published_time_arrived, timeout=10.0)
    assert follower.get_clock().now().nanoseconds == expected_ns
