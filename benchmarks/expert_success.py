"""Scripted pick-and-place expert on the MuJoCo cell: success rate and episode time over seeded episodes.

Prints figures, asserts nothing: run with `python benchmarks/expert_success.py` (seeds 0..99 by
default). Each episode resets the cell with its seed (random cube position and yaw), plans with
`PickPlaceExpert` and plays the plan at the control rate without rendering, until the cube rests
in the bin or the plan plus a settling time has run out. Episode time is sim time.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from dojo_core.expert import ExpertConfig, run_episode
from dojo_core.kinematics.model import RobotModel
from dojo_core.sim import SimCell, SimConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--episodes', type=int, default=100, help='episodes, seeds 0..episodes-1')
    parser.add_argument('--noise', type=float, default=ExpertConfig().noise, help='ExpertConfig.noise')
    args = parser.parse_args()

    cell = SimCell(SimConfig())
    model = RobotModel(cell.urdf)
    config = ExpertConfig(noise=args.noise)
    results = []
    start = time.perf_counter()
    for seed in range(args.episodes):
        result = run_episode(cell, seed, config, model=model)
        results.append(result)
        if not result.success:
            print(f'seed {seed}: failed: {result.reason}')
    wall = time.perf_counter() - start
    cell.close()

    successes = [r for r in results if r.success]
    sim_time = sum(r.duration_s for r in results)
    print(f'success: {len(successes)}/{len(results)} = {len(successes) / len(results):.1%} (noise {args.noise})')
    if successes:
        durations = np.array([r.duration_s for r in successes])
        print(f'episode time (successes, sim s): mean {durations.mean():.2f}, min {durations.min():.2f}, '
              f'max {durations.max():.2f}')
    print(f'wall time: {wall:.1f} s for {sim_time:.0f} sim s ({sim_time / wall:.1f}x real time, no rendering)')


if __name__ == '__main__':
    main()
