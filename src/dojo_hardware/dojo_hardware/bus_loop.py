"""A servo bus polled at a fixed rate from its own thread, with fault handling and health reports.

arm_driver and leader_arm both read a bus every cycle and must never let a serial problem reach
the ROS executor, so the loop runs in its own thread (serial I/O never blocks subscriptions or
services), measures its rate and every 1/status_rate_hz also reads the slow servo status
(temperature, voltage, load, alarms) for /diagnostics. What a node does with a reading (publish,
write goals) is its `on_cycle` callback, called in the loop thread with `lock` held.

Faults: a bus error in a cycle (after the bus layer's own retries) fails that cycle, and it is
counted; after `max_consecutive_failures` failed cycles in a row, or at once when the port is
lost, the loop is in FAULT: it stops cycling, so the node keeps its last good state and nothing
new is written, reports ERROR on /diagnostics and re-opens the port every
`reconnect_interval_s`. Once the servos answer again, `on_recovered` runs (where a node re-reads
the pose before anything else) and cycling resumes. A loop started without an open bus keeps
trying to open it the same way (state CONNECTING).
"""
from __future__ import annotations

import dataclasses
import enum
import threading
import time
from typing import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.impl.rcutils_logger import RcutilsLogger

from dojo_core.motors import JointReading, MotorBus, MotorBusError, MotorNotConnected, MotorPortError, MotorStatus
from dojo_ros.diagnostics import RateMeter, TaskResult

from dojo_hardware.servo_bus import OPEN_ERRORS, BusParams, open_bus

RATE_WARN_FRACTION = 0.8  # /diagnostics warns when the loop runs slower than this fraction of rate_hz
RATE_WINDOW_S = 2.0

CycleHook = Callable[[MotorBus, JointReading], None]


class LoopState(enum.Enum):
    STOPPED = 'stopped'  # no bus, no thread
    CONNECTING = 'connecting'  # thread running, the bus never opened yet
    RUNNING = 'running'
    FAULT = 'fault'  # the bus failed; re-opening it


@dataclasses.dataclass(frozen=True)
class ServoStatus:
    """The last slow-rate status read, with the alarm bits spelled out."""

    status: MotorStatus
    alarms: tuple[str, ...]  # per joint, '' when none


class BusLoop:
    """Polls one servo bus; `on_cycle`/`on_recovered` run in the loop thread, `on_fault` too (see module doc)."""

    def __init__(self, params: BusParams, logger: RcutilsLogger, on_cycle: CycleHook, *,
                 on_recovered: CycleHook | None = None, on_fault: Callable[[str], None] | None = None,
                 on_crash: Callable[[Exception], None] | None = None):
        self.params = params
        self.logger = logger
        self._on_cycle = on_cycle
        self._on_recovered = on_recovered or (lambda bus, reading: None)
        self._on_fault = on_fault or (lambda reason: None)
        self._on_crash = on_crash or (lambda exc: logger.fatal(f'bus loop stopped by {exc!r}'))
        self.bus: MotorBus | None = None
        self.lock = threading.RLock()  # held for a whole cycle: callers that use `bus` take it to never interleave
        self.state = LoopState.STOPPED
        self.rate = RateMeter(window_s=RATE_WINDOW_S)
        self.status: ServoStatus | None = None
        self.cycles = 0
        self.failed_cycles = 0
        self.consecutive_failures = 0
        self.reconnect_attempts = 0
        self.last_error = ''
        self._running_since = 0.0
        self._next_status = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def open(self) -> JointReading:
        """Open and configure the bus now, in the caller's thread; the first reading. Raises OPEN_ERRORS."""
        with self.lock:
            bus = open_bus(self.params)
            try:
                reading = bus.read_joint_state()
            except MotorBusError:
                bus.close()
                raise
            self.bus = bus
            self._resume()
            return reading

    def start(self) -> None:
        """Start the loop thread; without an open bus it first keeps trying to open one."""
        if self._thread is not None:
            return
        if self.bus is None:
            self.state = LoopState.CONNECTING
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name='servo_bus_loop', daemon=True)
        self._thread.start()

    def close(self, torque_off: bool) -> None:
        """Stop the thread, optionally disable torque (a failure is logged, never raised), release the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self._thread = None
        with self.lock:
            bus, self.bus = self.bus, None
            self.state, self.status = LoopState.STOPPED, None
            if bus is None:
                return
            if torque_off and bus.is_connected:
                try:
                    bus.disable_torque()
                except MotorBusError as exc:
                    self.logger.error(f'torque off failed on {self.params.port}: {exc}')
            bus.close()

    # -- loop thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        period = 1.0 / self.params.rate_hz
        next_time = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.state is LoopState.RUNNING:
                    self._cycle()
                    next_time += period
                    if next_time < time.monotonic() - period:  # fell behind: do not try to catch up
                        next_time = time.monotonic()
                else:
                    self._reopen()
                    next_time = time.monotonic() + (0.0 if self.state is LoopState.RUNNING
                                                    else self.params.reconnect_interval_s)
                self._stop.wait(max(0.0, next_time - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - the node decides what a dead loop means
            self._on_crash(exc)

    def _cycle(self) -> None:
        with self.lock:
            bus = self.bus
            try:
                reading = bus.read_joint_state()
                self._on_cycle(bus, reading)
                now = time.monotonic()
                if self.params.status_rate_hz > 0 and now >= self._next_status:
                    self._next_status = now + 1.0 / self.params.status_rate_hz
                    status = bus.read_status()
                    self.status = ServoStatus(status, tuple(bus.alarm_text(int(bits)) for bits in status.alarms))
            except MotorBusError as exc:
                self._failed(exc)
                return
            self.cycles += 1
            self.consecutive_failures = 0
            self.rate.tick(time.monotonic())

    def _failed(self, exc: MotorBusError) -> None:
        self.failed_cycles += 1
        self.consecutive_failures += 1
        self.last_error = str(exc)
        limit = self.params.max_consecutive_failures
        if isinstance(exc, (MotorPortError, MotorNotConnected)) or self.consecutive_failures >= limit:
            self.state, self.status = LoopState.FAULT, None
            self.logger.error(f'bus fault after {self.consecutive_failures} failed cycle(s): {exc}; holding the last '
                              f'good state, re-opening {self.params.port} every {self.params.reconnect_interval_s:g} s')
            self._on_fault(str(exc))
        else:
            self.logger.warning(f'bus cycle failed ({self.consecutive_failures}/{limit} in a row): {exc}',
                                throttle_duration_sec=1.0)

    def _reopen(self) -> None:
        with self.lock:
            self.reconnect_attempts += 1
            try:
                if self.bus is None:
                    self.bus = open_bus(self.params)
                else:
                    self.bus.reconnect()
                self._on_recovered(self.bus, self.bus.read_joint_state())
            except OPEN_ERRORS as exc:
                self.last_error = str(exc)
                self.logger.warning(f'{self.params.port} not usable yet: {exc}', throttle_duration_sec=10.0)
                return
            self.logger.info(f'bus loop running on {self.params.port}')
            self._resume()

    def _resume(self) -> None:
        self.state = LoopState.RUNNING
        self.consecutive_failures = 0
        self._running_since = time.monotonic()

    # -- diagnostics ------------------------------------------------------------------------------
    def diagnose_bus(self) -> TaskResult:
        """Loop rate, cycle and bus counters; ERROR while the bus is in fault or cannot be opened."""
        p, now = self.params, time.monotonic()
        rate = self.rate.rate(now)
        counters = self.bus.counters if self.bus is not None else None
        values: dict[str, object] = {
            'port': p.port, 'state': self.state.value, 'loop_rate_hz': rate, 'rate_hz': p.rate_hz,
            'cycles': self.cycles, 'failed_cycles': self.failed_cycles,
            'consecutive_failures': self.consecutive_failures, 'reconnect_attempts': self.reconnect_attempts,
            'last_error': self.last_error,
            **{f'bus.{k}': v for k, v in (dataclasses.asdict(counters) if counters else {}).items()},
        }
        if self.state is LoopState.FAULT:
            return DiagnosticStatus.ERROR, (f'bus fault: {self.last_error}; re-opening {p.port} every '
                                            f'{p.reconnect_interval_s:g} s'), values
        if self.state is LoopState.CONNECTING:
            return DiagnosticStatus.ERROR, f'cannot open {p.port}: {self.last_error or "opening"}', values
        if self.state is LoopState.STOPPED:
            return DiagnosticStatus.OK, 'not connected', values
        if self.consecutive_failures:
            return (DiagnosticStatus.WARN, f'{self.consecutive_failures} failed cycle(s) in a row: {self.last_error}',
                    values)
        if now - self._running_since > RATE_WINDOW_S and rate < RATE_WARN_FRACTION * p.rate_hz:
            return DiagnosticStatus.WARN, f'loop at {rate:.1f} Hz, below {p.rate_hz:g} Hz', values
        return DiagnosticStatus.OK, f'running at {rate:.1f} Hz', values

    def diagnose_motors(self) -> TaskResult:
        """Per-servo temperature, voltage, load and alarms; WARN beyond the thresholds or on an alarm."""
        p, last = self.params, self.status
        if last is None:
            reason = 'status reads disabled (status_rate_hz 0)' if p.status_rate_hz == 0 else 'no servo status yet'
            return DiagnosticStatus.STALE, reason, {}
        s = last.status
        values: dict[str, object] = {}
        problems = []
        for i, joint in enumerate(s.names):
            temperature, voltage, alarm = float(s.temperature[i]), float(s.voltage[i]), last.alarms[i]
            values.update({f'{joint}.temperature_c': temperature, f'{joint}.voltage_v': voltage,
                           f'{joint}.load': float(s.load[i]), f'{joint}.alarms': alarm or 'none'})
            if temperature > p.temperature_warn_c:
                problems.append(f'{joint} at {temperature:.0f} C (> {p.temperature_warn_c:g})')
            if not p.voltage_min_v <= voltage <= p.voltage_max_v:
                problems.append(f'{joint} supply {voltage:.1f} V (outside {p.voltage_min_v:g}-{p.voltage_max_v:g})')
            if alarm:
                problems.append(f'{joint} alarm: {alarm}')
        if problems:
            return DiagnosticStatus.WARN, '; '.join(problems), values
        return DiagnosticStatus.OK, (f'hottest {np.max(s.temperature):.0f} C, supply {np.min(s.voltage):.1f}-'
                                     f'{np.max(s.voltage):.1f} V'), values
