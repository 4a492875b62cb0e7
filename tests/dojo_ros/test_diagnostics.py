"""dojo_ros.diagnostics: /diagnostics over real rclpy, counters, rate meters."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from dojo_ros.diagnostics import DiagnosticsPublisher, EventCounter, RateMeter


@dataclass
class Ros:
    executor: SingleThreadedExecutor
    node: Node  # the node under test, in namespace /arm
    received: list[DiagnosticArray]

    def spin_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)


@pytest.fixture
def ros() -> Iterator[Ros]:
    context = Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    node = rclpy.create_node('driver', namespace='arm', context=context)
    monitor = rclpy.create_node('monitor', context=context)
    received: list[DiagnosticArray] = []
    monitor.create_subscription(DiagnosticArray, '/diagnostics', received.append, 10)
    executor.add_node(node)
    executor.add_node(monitor)
    try:
        yield Ros(executor, node, received)
    finally:
        executor.shutdown()
        node.destroy_node()
        monitor.destroy_node()
        rclpy.shutdown(context=context)


def _statuses(ros: Ros) -> dict[str, DiagnosticStatus]:
    return {status.name: status for array in ros.received for status in array.status}


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _wait_for_publisher_match(ros: Ros, diagnostics: DiagnosticsPublisher) -> None:
    """publish_now until the monitor has heard one array (discovery takes a moment)."""
    def heard() -> bool:
        diagnostics.publish_now()
        return bool(ros.received)

    ros.spin_until(heard)
    assert ros.received, 'monitor never received /diagnostics'


def test_status_name_level_values_on_absolute_topic(ros: Ros) -> None:
    diagnostics = DiagnosticsPublisher(ros.node, hardware_id='so101-follower', period_s=60.0)
    diagnostics.add_task('servo bus', lambda: (
        DiagnosticStatus.WARN, 'voltage low', {'voltage_v': 6.123456, 'errors': 3, 'port': 'ACM0'}))
    diagnostics.add_task('camera', lambda: (0, 'ok', {'fps': 29.9701, 'ok': True}))

    _wait_for_publisher_match(ros, diagnostics)

    # The topic is absolute even though the node lives in /arm.
    assert '/diagnostics' in dict(ros.node.get_publisher_names_and_types_by_node('driver', '/arm'))
    statuses = _statuses(ros)
    assert set(statuses) == {'driver: servo bus', 'driver: camera'}
    servo = statuses['driver: servo bus']
    assert servo.level == DiagnosticStatus.WARN
    assert servo.message == 'voltage low'
    assert servo.hardware_id == 'so101-follower'
    assert _values(servo) == {'voltage_v': '6.123', 'errors': '3', 'port': 'ACM0'}
    camera = statuses['driver: camera']
    assert camera.level == DiagnosticStatus.OK  # an int level arrives as the right byte
    assert _values(camera) == {'fps': '29.97', 'ok': 'True'}
    assert [s.name for s in ros.received[-1].status] == ['driver: servo bus', 'driver: camera']


def test_raising_task_is_reported_as_error(ros: Ros) -> None:
    diagnostics = DiagnosticsPublisher(ros.node, hardware_id='hw', period_s=60.0)

    def broken() -> tuple[int, str, dict[str, object]]:
        raise RuntimeError('servo 3 not responding')

    diagnostics.add_task('broken', broken)
    diagnostics.add_task('bad level', lambda: (7, 'what', {}))
    diagnostics.add_task('healthy', lambda: (DiagnosticStatus.OK, 'fine', {}))

    _wait_for_publisher_match(ros, diagnostics)

    statuses = _statuses(ros)
    assert statuses['driver: broken'].level == DiagnosticStatus.ERROR
    assert statuses['driver: broken'].message == (
        'diagnostic task failed: RuntimeError: servo 3 not responding')
    assert statuses['driver: bad level'].level == DiagnosticStatus.ERROR
    assert 'invalid diagnostic level 7' in statuses['driver: bad level'].message
    assert statuses['driver: healthy'].level == DiagnosticStatus.OK


def test_timer_publishes_periodically(ros: Ros) -> None:
    diagnostics = DiagnosticsPublisher(ros.node, hardware_id='hw', period_s=0.05)
    calls = EventCounter()

    def task() -> tuple[bytes, str, dict[str, object]]:
        calls.increment('runs')
        return DiagnosticStatus.OK, 'ok', {}

    diagnostics.add_task('tick', task)
    ros.spin_until(lambda: len(ros.received) >= 3)
    assert len(ros.received) >= 3
    assert calls.snapshot()['runs'] >= 3
    stamps = [a.header.stamp.sec * 10**9 + a.header.stamp.nanosec for a in ros.received]
    assert stamps == sorted(stamps) and stamps[0] > 0


def test_duplicate_task_and_bad_period_are_rejected(ros: Ros) -> None:
    diagnostics = DiagnosticsPublisher(ros.node, hardware_id='hw')
    diagnostics.add_task('a', lambda: (0, '', {}))
    with pytest.raises(ValueError, match="'a' is already registered"):
        diagnostics.add_task('a', lambda: (0, '', {}))
    with pytest.raises(ValueError, match='period_s must be positive'):
        DiagnosticsPublisher(ros.node, hardware_id='hw', period_s=0.0)


# --- EventCounter -------------------------------------------------------------------------------

def test_event_counter_counts_by_key() -> None:
    counter = EventCounter()
    assert counter.snapshot() == {} and counter.total() == 0
    counter.increment('unknown joint')
    counter.increment('out of limits', 3)
    counter.increment('unknown joint')
    counter.increment('stale', 0)
    assert counter.snapshot() == {'unknown joint': 2, 'out of limits': 3, 'stale': 0}
    assert counter.total() == 5


def test_event_counter_snapshot_is_a_copy() -> None:
    counter = EventCounter()
    counter.increment('a')
    snapshot = counter.snapshot()
    snapshot['a'] = 100
    counter.increment('a')
    assert counter.snapshot() == {'a': 2}


def test_event_counter_rejects_negative_increments() -> None:
    with pytest.raises(ValueError, match='counters only grow'):
        EventCounter().increment('a', -1)


def test_event_counter_is_thread_safe() -> None:
    counter = EventCounter()

    def work() -> None:
        for _ in range(5000):
            counter.increment('hits')

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.snapshot() == {'hits': 20000}


# --- RateMeter ----------------------------------------------------------------------------------

def test_rate_meter_needs_two_ticks() -> None:
    meter = RateMeter()
    assert meter.rate() == 0.0
    meter.tick(1.0)
    assert meter.rate() == 0.0


def test_rate_meter_measures_rate() -> None:
    meter = RateMeter(window_s=5.0)
    for i in range(31):
        meter.tick(100.0 + i / 30.0)
    assert meter.rate() == pytest.approx(30.0)


def test_rate_meter_window_slides() -> None:
    meter = RateMeter(window_s=1.0)
    for i in range(11):  # 10 Hz for one second
        meter.tick(i * 0.1)
    for i in range(1, 21):  # then 20 Hz
        meter.tick(1.0 + i * 0.05)
    assert meter.rate() == pytest.approx(20.0)


def test_rate_meter_decays_when_stream_stops() -> None:
    meter = RateMeter(window_s=1.0)
    for i in range(11):
        meter.tick(i * 0.1)
    assert meter.rate(now=1.0) == pytest.approx(10.0)
    assert meter.rate(now=1.55) == pytest.approx(4 / 0.4)  # ticks 0.6..1.0 remain
    assert meter.rate(now=5.0) == 0.0
    assert meter.rate() == 0.0


def test_rate_meter_restarts_when_time_goes_backwards() -> None:
    meter = RateMeter(window_s=10.0)
    for i in range(5):
        meter.tick(50.0 + i)
    meter.tick(0.0)  # simulation reset
    assert meter.rate() == 0.0
    meter.tick(0.5)
    assert meter.rate() == pytest.approx(2.0)


def test_rate_meter_rejects_bad_window() -> None:
    with pytest.raises(ValueError, match='window_s must be positive'):
        RateMeter(window_s=0.0)
