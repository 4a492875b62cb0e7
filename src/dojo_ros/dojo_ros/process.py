"""Run a dojo node in its own process, the way `ros2 run` would, and stop it cleanly.

launch/ros2cli are not available everywhere dojo runs (PyPI-only installs, CI), so the demo and
the multi-process tests start nodes with this: `python -m <module> --ros-args ...` in a child
process that inherits ROS_DOMAIN_ID / ROS_AUTOMATIC_DISCOVERY_RANGE, stopped with SIGINT (the
node's shutdown path) and killed only if it does not exit in time.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Sequence


class NodeProcess:
    """Context manager around a node started as `python -m module --ros-args ...`."""

    def __init__(self, module: str, *, params_file: str | Path | None = None,
                 parameters: dict[str, object] | None = None, ros_args: Sequence[str] = (),
                 log_path: str | Path | None = None, env: dict[str, str] | None = None):
        args = [sys.executable, '-m', module, '--ros-args']
        if params_file is not None:
            args += ['--params-file', str(params_file)]
        for name, value in (parameters or {}).items():
            args += ['-p', f'{name}:={_param_literal(value)}']
        self.args = [*args, *ros_args]
        self.log_path = Path(log_path) if log_path else None
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> 'NodeProcess':
        out = open(self.log_path, 'wb') if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        return self

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGINT, then SIGKILL after `timeout_s`; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> 'NodeProcess':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _param_literal(value: object) -> str:
    """A value as a `-p name:=value` YAML literal."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_param_literal(v) for v in value) + ']'
    if isinstance(value, str):
        return f'"{value}"' if value == '' or ':' in value or ' ' in value else value
    return repr(value)
