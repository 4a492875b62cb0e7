"""Sim cell speed at default settings on this machine: physics steps/s, camera frames/s, real-time factor.

Prints figures, asserts nothing: run with `make benchmark` (or `python benchmarks/sim_rate.py`).
The real-time factor is what sim_node can reach with the default config (control 30 Hz, both
cameras at 30 Hz): when it is below 1, sim_node runs slower than real time and says so on
/diagnostics; clients on sim time are unaffected.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault('MUJOCO_GL', 'egl')

from dojo_core.sim import SimCell, SimConfig  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Seconds per call of fn, best of three batches (less noise from the other core's load)."""
    best = float('inf')
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--seconds', type=float, default=5.0, help='sim seconds for the end-to-end figure')
    args = parser.parse_args()

    config = SimConfig()
    cell = SimCell(config)
    cell.reset(0)
    target = np.array([0.3, 0.2, 0.1, 0.9, -0.4, 0.8])

    control = timed(lambda: cell.step(target), 200)
    physics_steps_per_s = cell.substeps / control
    print(f'physics: {physics_steps_per_s:,.0f} steps/s ({config.physics_rate_hz:.0f} Hz model -> '
          f'{physics_steps_per_s / config.physics_rate_hz:.1f}x real time without cameras)')
    for name, cam in config.cameras.items():
        per_frame = timed(lambda n=name: cell.render(n), 20)
        print(f'camera {name} {cam.width}x{cam.height}: {1 / per_frame:.1f} frames/s ({per_frame * 1e3:.1f} ms/frame)')

    # End to end as sim_node runs it: every control period steps physics; cameras render when due.
    cell.reset(0)
    due = {name: 0.0 for name in config.cameras}
    frames = 0
    start = time.perf_counter()
    while cell.time < args.seconds:
        cell.step(target)
        for name, cam in config.cameras.items():
            if cell.time + 1e-9 >= due[name]:
                due[name] += 1.0 / cam.rate_hz
                cell.render(name)
                frames += 1
    wall = time.perf_counter() - start
    print(f'default settings (control {config.control_rate_hz:.0f} Hz, cameras '
          f'{", ".join(f"{n} {c.rate_hz:.0f} Hz" for n, c in config.cameras.items())}): '
          f'{cell.time / wall:.2f}x real time ({frames / wall:.1f} frames/s, {cell.time:.1f} sim s in {wall:.1f} s)')
    cell.close()


if __name__ == '__main__':
    main()
