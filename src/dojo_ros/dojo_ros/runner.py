"""The process around a node with its own threads: build it, start it, spin it, stop it however the
process ends.

Drivers, cameras, the sim and the policy node each run a thread of their own next to the
executor (a bus loop, a capture thread, the physics stepping, inference). Ctrl-C, SIGTERM
(rclpy's signal handlers shut the context down) or a fatal error in that thread all end in the
node's `stop()`, which is where a driver turns torque off and a policy stops commanding: a robot
must never be left powered or commanded by a process that is gone.

`stop()` runs to its end whatever signals arrive meanwhile (see `ShutdownSignals`): under
`ros2 launch` one Ctrl-C reaches a node twice, from the terminal and forwarded by launch ~3 ms
later, and launch escalates to SIGTERM.
"""
from __future__ import annotations

import signal
from types import FrameType
from typing import Callable, Protocol

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node

from dojo_ros.lifecycle import RCLError


class StartStopNode(Protocol):
    """A node with a thread of its own: `stop()` returns False (or None for 'no verdict') if the
    node had failed."""

    def start(self) -> None: ...

    def stop(self) -> bool | None: ...


def run_node(name: str, factory: Callable[[], Node], args: list[str] | None = None, *, threads: int = 2,
             errors: tuple[type[Exception], ...] = (ValueError, TypeError)) -> int:
    """Build the node, `start()` it, spin it until shutdown, then `stop()` it; the process exit code.

    `threads`: executor threads (1 = SingleThreadedExecutor, for a node whose callbacks never block
    and whose own thread should not compete with the executor's for the GIL). `errors`: what the
    factory raises for bad parameters, logged as one fatal line without a traceback (exit 1).
    `stop()` returning False (the node had failed) also gives exit code 1.
    """
    signals = ShutdownSignals(name)  # before rclpy.init, whose handlers then call it after their own work
    try:
        rclpy.init(args=args)
        if signals.received:  # arrived before rclpy's handlers were in place: nothing started yet
            rclpy.try_shutdown()
            return 0
        return _spin_node(name, factory, threads, errors)
    finally:
        signals.ignore()  # stopped: nothing is left to interrupt while the interpreter exits


def _spin_node(name: str, factory: Callable[[], Node], threads: int, errors: tuple[type[Exception], ...]) -> int:
    try:
        node = factory()
    except errors as exc:
        get_logger(name).fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    try:
        node.start()
        executor.spin()
    except ExternalShutdownException:
        pass
    except RCLError:
        # SIGINT's shutdown can land while the executor builds its wait set: an invalid context then,
        # which is a normal end, not a failure of the node.
        if rclpy.ok(context=node.context):
            raise
    finally:
        healthy = node.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 1 if healthy is False else 0


class ShutdownSignals:
    """SIGINT and SIGTERM for a node process, from before `rclpy.init` until the process exits: recorded,
    never raised.

    rclpy's handlers (installed by `rclpy.init`, removed again by `rclpy.try_shutdown`) shut the
    context down, which ends the spin, and then call the Python handler they replaced. Python's
    default SIGINT handler raises KeyboardInterrupt wherever the main thread is: a second Ctrl-C
    (launch forwards the terminal's one ~3 ms later) landed inside `stop()`, between two servos'
    torque-off writes, and left the others powered. This handler only records the signal, so the
    first one ends the spin through rclpy and every later one (logged) leaves `stop()` and the
    teardown to complete. Once the node is down, `ignore()` makes the rest of the exit immune as
    well: while the interpreter finalises it resets Python-level handlers to the default (a signal
    then kills the process, exit -2/-15 after a clean stop), but leaves ignored signals ignored.
    A process that hangs is still ended by SIGKILL, launch's last resort.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, name: str) -> None:
        self.received: list[signal.Signals] = []
        self._logger = get_logger(f'{name}.signals')  # not the node's logger: its /rosout publisher is gone
        for signum in self.SIGNALS:
            signal.signal(signum, self._on_signal)

    def ignore(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum))
        if len(self.received) == 2:  # said once: a handler that logs every one of a flood would nest
            self._logger.info(f'{self.received[-1].name} while shutting down: ignored (and any further '
                              'signal), the node is stopping')


def shut_down_on_crash(node: Node, what: str, exc: Exception) -> bool:
    """A worker thread of `node` died: log it and shut the context down, so that run_node's `stop()`
    releases what the node holds. False (nothing done) when the context was already shutting down:
    then the thread only raced Ctrl-C (a publish on a dead context), which is no failure."""
    if not rclpy.ok(context=node.context):
        return False
    node.get_logger().fatal(f'{what} failed: {exc!r}; shutting down')
    rclpy.try_shutdown(context=node.context)
    return True
