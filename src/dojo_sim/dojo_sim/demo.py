"""`dojo demo`: the main job on the sim cell.

Starts sim_node in its own process with the installed config/sim.yaml, drives the arm through a
scripted joint-space tour from a separate client node (scripted_motion), then prints the measured
control and camera rates and saves one PNG per camera. Later milestones extend this to the full
record -> train -> evaluate loop.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import rclpy
from rclpy.parameter import Parameter

from dojo_core.robot.description import share_dir
from dojo_ros.process import NodeProcess
from dojo_sim.scripted_motion import ScriptedMotion, print_report, run


class DemoVerb:
    help = 'Run the sim cell and a scripted client; print measured rates and save camera PNGs.'

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--out', default='outputs', help='output folder (default: outputs)')
        parser.add_argument('--sim-config', default=None,
                            help='sim_node parameter file (default: the installed config/sim.yaml)')
        parser.add_argument('--real-time-factor', type=float, default=None,
                            help='override sim_node real_time_factor (0 = as fast as possible)')
        parser.add_argument('--timeout', type=float, default=300.0, help='wall-clock limit in seconds')

    def main(self, args: argparse.Namespace) -> int:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        config = args.sim_config or share_dir('dojo_bringup') / 'config' / 'sim.yaml'
        overrides = {} if args.real_time_factor is None else {'real_time_factor': args.real_time_factor}
        print(f'dojo demo: sim_node with {config}; log in {out / "sim_node.log"}')
        with NodeProcess('dojo_sim.sim_node', params_file=config, parameters=overrides,
                         log_path=out / 'sim_node.log') as sim:
            rclpy.init()
            try:
                node = ScriptedMotion(parameter_overrides=[
                    Parameter('use_sim_time', value=True), Parameter('output_dir', value=str(out))])
                started = time.monotonic()
                finished = run(node, timeout_s=args.timeout)
                print(f'scripted tour {"finished" if finished else "DID NOT FINISH"} in '
                      f'{time.monotonic() - started:.1f} s wall')
                print_report(node)
                node.destroy_node()
            finally:
                rclpy.try_shutdown()
            if not sim.alive():
                print('sim_node exited early; see its log')
                return 1
        return 0 if finished else 1
