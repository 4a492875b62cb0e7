"""IK solve time and accuracy on this machine: cold and warm starts, position-only and top-down grasps.

Prints figures, asserts nothing: run with `python benchmarks/ik_solve.py`. Targets are forward
kinematics of random configurations within the joint limits (so all are reachable). Cold start:
every solve starts from the home pose; warm start: from the configuration a few degrees away, as
when tracking a moving target at the control rate.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from dojo_core.kinematics.ik import AxisGoal, IKSolver, IKTarget
from dojo_core.kinematics.model import RobotModel
from dojo_core.sim.config import SimConfig


def run(name: str, solver: IKSolver, cases: list[tuple[IKTarget, np.ndarray]]) -> None:
    seconds, errors, iterations, successes = [], [], [], 0
    for target, seed in cases:
        start = time.perf_counter()
        result = solver.solve(target, seed)
        seconds.append(time.perf_counter() - start)
        errors.append(result.position_error)
        iterations.append(result.iterations)
        successes += result.success
    ms = np.array(seconds) * 1e3
    errors = np.array(errors)
    print(f'{name:<34} solve p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  '
          f'iterations p50 {np.percentile(iterations, 50):3.0f} p99 {np.percentile(iterations, 99):4.0f}  '
          f'success {successes / len(cases):6.1%}  error <= 2 mm {np.mean(errors <= 2e-3):6.1%}  '
          f'error p50 {np.percentile(errors, 50) * 1e6:5.1f} um p99 {np.percentile(errors, 99) * 1e6:5.1f} um')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--targets', type=int, default=1000, help='targets per case')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    model = RobotModel()
    solver = IKSolver(model)
    rng = np.random.default_rng(args.seed)
    home = np.array(SimConfig().home_positions)
    configurations = [model.random_configuration(rng) for _ in range(args.targets)]
    poses = [model.fk(q) for q in configurations]

    run('position, cold start', solver, [(IKTarget(p), home) for p, _ in poses])
    run('position + rotation, cold start', solver, [(IKTarget(p, rotation=R), home) for p, R in poses])
    nearby = [model.limits.clamp(q + rng.normal(0.0, 0.05, q.shape)) for q in configurations]
    run('position, warm start', solver, [(IKTarget(p), q) for (p, _), q in zip(poses, nearby)])
    run('position + rotation, warm start', solver,
        [(IKTarget(p, rotation=R), q) for (p, R), q in zip(poses, nearby)])

    x0, x1, y0, y1 = SimConfig().cube_region
    down = AxisGoal((1.0, 0.0, 0.0), (0.0, 0.0, -1.0))
    grasps = [IKTarget(np.array([rng.uniform(x0, x1), rng.uniform(y0, y1), 0.025]), axes=(down,))
              for _ in range(args.targets)]
    run('top-down over the cube region, cold', solver, [(g, home) for g in grasps])

    q = nearby[0]
    start = time.perf_counter()
    for _ in range(2000):
        model.fk_and_jacobian(q)
    print(f'pinocchio FK + Jacobian: {(time.perf_counter() - start) / 2000 * 1e6:.1f} us per call')


if __name__ == '__main__':
    main()
