"""The sim cell's episode protocol over ROS, driven from a node: reset, fresh observations, run, judge.

The scripted expert node (pick_place_expert, which every recorder client such as `dojo expert`
runs episodes through) and `dojo eval` (through policy_node) follow the same steps
(`dojo_core.sim.protocol`): call `sim/reset` (std_srvs/Trigger); wait until every stream they
read, and `sim/success`, has delivered `FRESH_MESSAGES` messages after the answer, so nothing they
act on or judge by is from before the reset; run; end at success or the time limit in sim time.
The steps live here once; what happens in between (holding the arm at home, planning, enabling a
policy, recording) stays with the caller.

The callers wait in different ways: the expert plays its episodes in a thread of its own while an
executor spins the node, `dojo eval` spins the node in its main thread. So every wait goes through
the caller's `wait_until(predicate, timeout_s) -> bool`: True once `predicate()` holds, False when
`timeout_s` wall seconds pass first; it raises when the caller must stop (a signal, a dead process).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rclpy.node import Node
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from dojo_core.sim.protocol import fresh_messages
from dojo_ros.qos import SENSOR_QOS

RESET_SERVICE = 'sim/reset'
SUCCESS_TOPIC = 'sim/success'
#: Messages of each stream that must arrive after the reset's answer before its state counts as fresh.
FRESH_MESSAGES = fresh_messages(SENSOR_QOS.depth)

#: The caller's wait: `wait_until(predicate, timeout_s)` is True once predicate() holds, False after timeout_s.
WaitUntil = Callable[[Callable[[], bool], float], bool]


class EpisodeError(RuntimeError):
    """The episodes cannot go on: no sim, a refused or unanswered reset, no messages, sim time standing still."""


class Latest:
    """The latest message of a stream and how many arrived; written by the executor, read by any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._msg: Any = None
        self._count = 0

    def __call__(self, msg: Any) -> None:
        with self._lock:
            self._msg, self._count = msg, self._count + 1

    @property
    def msg(self) -> Any:
        with self._lock:
            return self._msg

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


@dataclass(frozen=True)
class RunResult:
    """How a run ended: success, or the time limit first; its sim-time bounds (seconds)."""

    success: bool
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class EpisodeDriver:
    """Drives the cell's episodes from `node` (on sim time): subscribes to the observed streams and
    `sim/success` (SENSOR_QOS) and calls `sim/reset`.

    `observed`: {topic: message class} the caller reads; `stall_s`: wall seconds a service answer,
    fresh messages or moving sim time may take before EpisodeError.
    """

    def __init__(self, node: Node, wait_until: WaitUntil, observed: Mapping[str, type] | None = None,
                 stall_s: float = 60.0) -> None:
        self._node = node
        self._wait_until = wait_until
        self.stall_s = stall_s
        types = {**(observed or {}), SUCCESS_TOPIC: Bool}
        self.streams = {topic: Latest() for topic in types}
        for topic, msg_type in types.items():
            node.create_subscription(msg_type, topic, self.streams[topic], SENSOR_QOS)
        self._reset_client = node.create_client(Trigger, RESET_SERVICE)

    def now(self) -> float:
        """The node's clock (sim time), seconds."""
        return self._node.get_clock().now().nanoseconds * 1e-9

    def latest(self, topic: str) -> Any:
        """The latest message of an observed stream (None before the first)."""
        return self.streams[topic].msg

    @property
    def succeeded(self) -> bool:
        """Whether the latest sim/success says the task is done."""
        msg = self.latest(SUCCESS_TOPIC)
        return msg is not None and msg.data

    def heard_all(self) -> bool:
        """Whether every stream has delivered a message (the subscriptions are connected)."""
        return all(stream.count for stream in self.streams.values())

    def wait_for_sim(self) -> None:
        """Wait for the sim's reset service (a sim that is not there is an error, not a hang)."""
        if not self._wait_until(self._reset_client.service_is_ready, self.stall_s):
            raise EpisodeError(f'no {RESET_SERVICE} service after {self.stall_s:g} s: is sim_node running?')

    def reset(self, on_reset: Callable[[], None] | None = None) -> None:
        """Reset the cell, then wait for fresh messages on every stream.

        `on_reset` runs as soon as the reset is answered, before the wait (the expert holds the arm
        at home from then on, overriding commands of the previous episode the sim still takes)."""
        self.wait_for_sim()
        future = self._reset_client.call_async(Trigger.Request())
        if not self._wait_until(future.done, self.stall_s):
            self._reset_client.remove_pending_request(future)
            raise EpisodeError(f'{RESET_SERVICE} did not answer within {self.stall_s:g} s')
        answer = future.result()
        if not answer.success:
            raise EpisodeError(f'{RESET_SERVICE} failed: {answer.message}')
        if on_reset is not None:
            on_reset()
        self.wait_fresh()

    def wait_fresh(self, topics: Iterable[str] | None = None) -> None:
        """Wait until `topics` (default: every stream) have each delivered FRESH_MESSAGES more messages."""
        targets = {topic: self.streams[topic].count + FRESH_MESSAGES for topic in (topics or self.streams)}
        if not self._wait_until(lambda: all(self.streams[t].count >= n for t, n in targets.items()), self.stall_s):
            raise EpisodeError(f'no fresh {", ".join(sorted(targets))} from the sim within {self.stall_s:g} s')

    def wait_sim(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait until `predicate()`, for as long as sim time moves on; EpisodeError when it stands
        still for stall_s (a stopped or overloaded sim)."""
        while not predicate():
            if not self._wait_until(self._moved_on(predicate, self.now()), self.stall_s):
                raise EpisodeError(f'sim time stood still for {self.stall_s:g} s waiting for {what}')

    def run(self, time_limit_s: float, what: str = 'the episode to end') -> RunResult:
        """From now, wait until sim/success or `time_limit_s` sim seconds, whichever comes first."""
        start = self.now()
        self.wait_sim(lambda: self.succeeded or self.now() >= start + time_limit_s, what)
        return RunResult(self.succeeded, start, self.now())

    def _moved_on(self, predicate: Callable[[], bool], since: float) -> Callable[[], bool]:
        return lambda: predicate() or self.now() != since
