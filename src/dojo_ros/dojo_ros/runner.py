"""The process around a node with its own threads: build it, start it, spin it, stop it however the
process ends.

Drivers, cameras, the sim and the policy node each run a thread of their own next to the
executor (a bus loop, a capture thread, the physics stepping, inference). Ctrl-C, SIGTERM
(rclpy's signal handlers shut the context down) or a fatal error in that thread all end in the
node's `stop()`, which is where a driver turns torque off and a policy stops commanding: a robot
must never be left powered or commanded by a process that is gone.
"""
from __future__ import annotations

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
    rclpy.init(args=args)
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
    except (KeyboardInterrupt, ExternalShutdownException):
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


def shut_down_on_crash(node: Node, what: str, exc: Exception) -> bool:
    """A worker thread of `node` died: log it and shut the context down, so that run_node's `stop()`
    releases what the node holds. False (nothing done) when the context was already shutting down:
    then the thread only raced Ctrl-C (a publish on a dead context), which is no failure."""
    if not rclpy.ok(context=node.context):
        return False
    node.get_logger().fatal(f'{what} failed: {exc!r}; shutting down')
    rclpy.try_shutdown(context=node.context)
    return True
