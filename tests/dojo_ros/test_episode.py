"""dojo_ros.episode over real rclpy: a fake sim (own context and executor thread, as if another process)
serves `sim/reset` and publishes /clock, an observation and `sim/success`; the driver runs episodes
on a node of its own, waiting the way `dojo eval` does (spinning in the calling thread) and the way
the expert node does (polling from its episode thread while an executor spins elsewhere).

The fake makes stale messages likely, as a busy sim does: just before it answers a reset it
publishes a queue's worth of the old state (the old episode number, the previous episode's success).
Its sim/success comes at a quarter of the observation's rate, so fresh observations alone do not
make the success fresh.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Bool, Int32
from std_srvs.srv import Trigger

from dojo_core.sim.protocol import fresh_messages
from dojo_ros.episode import EpisodeDriver, EpisodeError
from dojo_ros.qos import SENSOR_QOS

TICK_WALL_S = 0.005   # the fake sim's period, wall seconds
TICK_SIM_S = 0.02     # and sim seconds: 4x real time, so sim-time limits are told from wall-time ones
FRESH_MESSAGES = fresh_messages(SENSOR_QOS.depth)   # the protocol's rule
SUCCESS_EVERY = 4     # ticks between two sim/success messages
STALL_S = 2.0
# Sim seconds from a reset to the fake's success: twice what FRESH_MESSAGES sim/success messages
# take, so that a fresh success is False when the wait ends.
PLACED_AFTER_S = 2 * FRESH_MESSAGES * SUCCESS_EVERY * TICK_SIM_S


class FakeSim(Node):
    """sim/reset, /clock, `obs` (Int32: the episode number, i.e. resets so far) every tick and
    sim/success (True from `success_after_s` sim seconds into an episode; never when None) every
    SUCCESS_EVERY ticks."""

    def __init__(self, context: Context) -> None:
        super().__init__('fake_sim', context=context)
        self.t, self.ticks = 0.0, 0
        self.episode, self.episode_start = 0, 0.0
        self.success_after_s: float | None = None
        self.refuse = False
        self.running = True
        self.clock_pub = self.create_publisher(Clock, '/clock', 10)
        self.obs_pub = self.create_publisher(Int32, 'obs', 10)
        self.success_pub = self.create_publisher(Bool, 'sim/success', 10)
        self.create_service(Trigger, 'sim/reset', self._on_reset)
        self.create_timer(TICK_WALL_S, self._tick)

    def _success(self) -> bool:
        return self.success_after_s is not None and self.t - self.episode_start >= self.success_after_s

    def _publish(self, success: bool = True) -> None:
        self.obs_pub.publish(Int32(data=self.episode))
        if success:
            self.success_pub.publish(Bool(data=self._success()))

    def _tick(self) -> None:
        if not self.running:
            return
        self.t, self.ticks = self.t + TICK_SIM_S, self.ticks + 1
        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = int(self.t), int(round(self.t % 1 * 1e9)) % 1_000_000_000
        self.clock_pub.publish(clock)
        self._publish(success=self.ticks % SUCCESS_EVERY == 0)

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.refuse:
            response.success, response.message = False, 'refused by the test'
            return response
        for _ in range(SENSOR_QOS.depth):   # the old state, still on its way when the answer arrives
            self._publish()
        self.episode, self.episode_start = self.episode + 1, self.t
        response.success = True
        return response


@dataclass
class Cell:
    sim: FakeSim
    driver: EpisodeDriver


def _spinning(node: Node) -> tuple[Callable[[Callable[[], bool], float], bool], Callable[[], None]]:
    """`dojo eval`'s model: the waiting thread spins the node itself."""
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)

    def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            executor.spin_once(timeout_sec=0.01)
        return True

    return wait_until, executor.shutdown


def _threaded(node: Node) -> tuple[Callable[[Callable[[], bool], float], bool], Callable[[], None]]:
    """The expert's model: an executor spins in another thread, the waiting thread polls."""
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()

    def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def stop() -> None:
        executor.shutdown()
        thread.join(timeout=5)

    return wait_until, stop


@pytest.fixture(params=[_spinning, _threaded], ids=['spinning caller', 'threaded caller'])
def cell(request) -> Iterator[Cell]:
    sim_context, client_context = Context(), Context()
    rclpy.init(context=sim_context)
    rclpy.init(context=client_context)
    sim = FakeSim(sim_context)
    sim_executor = SingleThreadedExecutor(context=sim_context)
    sim_executor.add_node(sim)
    sim_thread = threading.Thread(target=sim_executor.spin, daemon=True)
    sim_thread.start()
    client = rclpy.create_node('client', context=client_context,
                               parameter_overrides=[Parameter('use_sim_time', value=True)])
    wait_until, stop = request.param(client)
    driver = EpisodeDriver(client, wait_until, {'obs': Int32}, stall_s=STALL_S)
    try:
        assert wait_until(lambda: driver.heard_all() and driver.now() > 0, 20.0), 'no messages from the fake sim'
        yield Cell(sim, driver)
    finally:
        stop()
        sim_executor.shutdown()
        sim_thread.join(timeout=5)
        client.destroy_node()
        sim.destroy_node()
        rclpy.shutdown(context=client_context)
        rclpy.shutdown(context=sim_context)


def test_after_a_reset_every_stream_is_fresh_and_success_ends_the_run(cell):
    cell.sim.success_after_s = PLACED_AFTER_S
    for episode in (1, 2):   # the second starts with the first's success still on sim/success
        counts = {topic: stream.count for topic, stream in cell.driver.streams.items()}
        cell.driver.reset()
        assert cell.driver.latest('obs').data == episode
        assert not cell.driver.succeeded
        assert all(stream.count >= counts[topic] + FRESH_MESSAGES for topic, stream in cell.driver.streams.items())
        result = cell.driver.run(time_limit_s=10.0)
        assert result.success and cell.driver.succeeded
        # the run ends at this episode's success, PLACED_AFTER_S of sim time after the reset
        placed = cell.sim.episode_start + PLACED_AFTER_S
        assert placed - 2 * TICK_SIM_S <= result.end_s <= placed + (SUCCESS_EVERY + 6) * TICK_SIM_S, (result, placed)


def test_without_success_the_run_ends_at_the_time_limit_in_sim_time(cell):
    cell.driver.reset()
    started = time.monotonic()
    result = cell.driver.run(time_limit_s=2.0)
    assert not result.success
    assert 2.0 <= result.duration_s <= 2.0 + 6 * TICK_SIM_S, result
    assert time.monotonic() - started < 2.0   # 4x real time: the limit is not counted in wall seconds


def test_a_refused_reset_or_a_stopped_sim_is_an_episode_error(cell):
    cell.sim.refuse = True
    with pytest.raises(EpisodeError, match='sim/reset failed: refused by the test'):
        cell.driver.reset()
    cell.sim.refuse = False
    cell.driver.reset()
    cell.driver.stall_s = 1.0
    cell.sim.running = False   # still answers, but neither time nor messages move on
    with pytest.raises(EpisodeError, match='sim time stood still for 1 s waiting for the episode'):
        cell.driver.run(time_limit_s=10.0)
    with pytest.raises(EpisodeError, match='no fresh obs, sim/success from the sim'):
        cell.driver.reset()


def test_without_a_sim_there_is_no_reset_service():
    context = Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('lonely', namespace='no_sim', context=context)
        driver = EpisodeDriver(node, lambda predicate, timeout_s: predicate(), stall_s=0.1)
        with pytest.raises(EpisodeError, match='no sim/reset service after 0.1 s: is sim_node running'):
            driver.wait_for_sim()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
