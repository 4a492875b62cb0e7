"""The process around a hardware node: spin it, and release the hardware however the process ends.

Ctrl-C, SIGTERM (rclpy's signal handlers shut the context down) or a fatal error in the bus
thread all end in the node's `stop()`, which is where a driver turns torque off: an arm must
never be left powered by a process that is gone.
"""
from __future__ import annotations

from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node


def run_node(name: str, factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Build the node, `start()` it, spin it on two threads until shutdown, then `stop()` it.

    `stop()` releases the hardware and returns False if the node had failed; the exit code is then 1.
    """
    rclpy.init(args=args)
    try:
        node = factory()
    except (ValueError, TypeError) as exc:  # bad parameters: say what is wrong, no traceback
        get_logger(name).fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    try:
        node.start()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        healthy = node.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0 if healthy else 1


def shut_down_on_crash(node: Node, what: str, exc: Exception) -> bool:
    """A hardware thread of `node` died: log it and shut the context down, so that run_node's `stop()`
    releases the hardware. False (nothing done) when the context was already shutting down: then the
    thread only raced Ctrl-C (a publish on a dead context), which is no failure."""
    if not rclpy.ok(context=node.context):
        return False
    node.get_logger().fatal(f'{what} failed: {exc!r}; shutting down')
    rclpy.try_shutdown(context=node.context)
    return True
