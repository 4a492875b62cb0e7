"""Publishing node health on /diagnostics, plus the counters and rate meters that feed it.

diagnostic_updater is not available as a PyPI wheel, and dojo needs only its core: periodic status
tasks published as diagnostic_msgs/DiagnosticArray on the absolute topic ``/diagnostics`` (what
diagnostic_aggregator and rqt_robot_monitor read), with status names ``"<node name>: <task>"`` as
diagnostic_updater writes them.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from dojo_core.metrics import EventCounter, RateMeter  # noqa: F401 - re-exported: nodes take them from here

#: What a diagnostic task returns: (level, message, key/values). ``level`` is one of
#: DiagnosticStatus.OK/WARN/ERROR/STALE (bytes) or the same as an int 0..3.
TaskResult = tuple[bytes | int, str, Mapping[str, object]]

_LEVELS = {
    DiagnosticStatus.OK[0],
    DiagnosticStatus.WARN[0],
    DiagnosticStatus.ERROR[0],
    DiagnosticStatus.STALE[0],
}


def _level_byte(level: bytes | int) -> bytes:
    """Return ``level`` as the one-byte value DiagnosticStatus.level needs.

    Unless ROS_PYTHON_CHECK_FIELDS=1, the generated message stores an int in that field without
    complaint and serialises it wrongly (2 arrives as b'\\x92'), so ints are converted here.
    """
    value = level[0] if isinstance(level, bytes) and len(level) == 1 else level
    if isinstance(value, bool) or not isinstance(value, int) or value not in _LEVELS:
        raise ValueError(
            f'invalid diagnostic level {level!r}; use DiagnosticStatus.OK/WARN/ERROR/STALE'
        )
    return bytes([value])


def _format_value(value: object) -> str:
    """Stringify a diagnostic value; non-integral numbers get 4 significant digits."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f'{float(value):.4g}'
    return str(value)


class DiagnosticsPublisher:
    """Runs named status tasks every ``period_s`` (node clock) and publishes them on /diagnostics.

    A task that raises is reported as an ERROR status carrying the exception text instead of
    propagating into the executor, so a broken health check cannot take the node down.
    """

    def __init__(self, node: Node, hardware_id: str, period_s: float = 1.0) -> None:
        if period_s <= 0.0:
            raise ValueError(f'period_s must be positive, got {period_s}')
        self._node = node
        self._hardware_id = hardware_id
        self._tasks: dict[str, Callable[[], TaskResult]] = {}
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._timer = node.create_timer(period_s, self.publish_now)

    def add_task(self, name: str, callback: Callable[[], TaskResult]) -> None:
        """Register ``callback`` to be reported as status ``"<node name>: <name>"``."""
        if name in self._tasks:
            raise ValueError(f'diagnostic task {name!r} is already registered')
        self._tasks[name] = callback

    def publish_now(self) -> None:
        """Run every task once and publish one DiagnosticArray with their statuses."""
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        array.status = [self._run(name, callback) for name, callback in list(self._tasks.items())]
        self._publisher.publish(array)

    def _run(self, name: str, callback: Callable[[], TaskResult]) -> DiagnosticStatus:
        status = DiagnosticStatus(
            name=f'{self._node.get_name()}: {name}', hardware_id=self._hardware_id
        )
        try:
            level, message, values = callback()
            status.level = _level_byte(level)
            status.message = str(message)
            status.values = [
                KeyValue(key=str(key), value=_format_value(value)) for key, value in values.items()
            ]
        except Exception as exc:  # noqa: BLE001 - any failure of a health check is reported
            status.level = DiagnosticStatus.ERROR
            status.message = f'diagnostic task failed: {type(exc).__name__}: {exc}'
            status.values = []
            self._node.get_logger().error(
                f'diagnostic task {name!r} failed: {type(exc).__name__}: {exc}',
                throttle_duration_sec=10.0,
            )
        return status
