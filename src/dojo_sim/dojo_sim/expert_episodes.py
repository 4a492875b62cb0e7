"""`dojo expert`: episodes of the scripted pick-and-place expert on the sim cell, optionally recorded.

The demonstration source of the learning loop (`dojo demo` records its training data with it).
Starts sim_node and the scripted pick-and-place expert (dojo_sim pick_place_expert) in their own
processes with the installed config/sim.yaml and config/expert.yaml, runs `--episodes` episodes,
prints each result as the expert publishes it on `expert/episode_result` and then the expert's
success rate. With `--record DIR` the episodes are also recorded as a LeRobot dataset by
dojo_recorder's recorder_node (when that package is installed), which the verb configures and
activates through its lifecycle services before the first episode; at the end the verb prints
what the recorder's `episode_status` says is committed in the dataset (the count to trust when a
stop_episode reply was lost). Cameras are rendered only when recording: nothing else looks at
them. Node logs go to `--out`.

With `--ros-free --record DIR` the same scenes (cube seeds seed + 1 ..) are played by the expert on
the sim cell in this process and written by `dojo_core.expert.dataset.record_expert_dataset`, with
the same feature map, as fast as the machine goes instead of in sim real time: about 4.7 s of wall
time per demonstration instead of 15 (200 demonstrations in 16 min on 2 cores). The datasets of
both paths hold the same features and meaning (that module says how), so either trains the same.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from dojo_core.episode_status import STATUS_SERVICE
from dojo_core.expert.dataset import record_expert_dataset
from dojo_core.robot.description import share_dir
from dojo_ros.lifecycle import LifecycleClient
from dojo_ros.process import NodeProcess
from dojo_ros.qos import LATCHED_QOS

RECORDER_MODULE = 'dojo_recorder.recorder_node'
RECORDER_NODE = 'recorder_node'
# Wall seconds the recorder may take to start, configure (open the dataset) and close it.
RECORDER_START_S = 60.0
RECORDER_STOP_S = 120.0
RECORDER_DISCARD_S = 10.0


class ExpertClient(Node):
    """Collects the expert's episode results; discards an unfinished recording."""

    def __init__(self) -> None:
        super().__init__('dojo_expert')
        self.results: list[dict] = []
        self.create_subscription(String, 'expert/episode_result', self._on_result, LATCHED_QOS)
        self.discard_client = self.create_client(Trigger, f'{RECORDER_NODE}/discard_episode')
        self.status_client = self.create_client(Trigger, f'{RECORDER_NODE}/{STATUS_SERVICE}')

    def discard_recording(self, timeout_s: float = RECORDER_DISCARD_S) -> str:
        """Drop the recording of an episode the expert did not finish (stopped at --timeout or by
        Ctrl-C): left open, the recorder would save the half episode when it shuts down."""
        answer = self._call(self.discard_client, timeout_s)
        return 'no answer from the recorder' if answer is None else answer.message

    def saved_episodes(self, timeout_s: float = RECORDER_DISCARD_S) -> int | None:
        """Episodes committed in the dataset, by the recorder's episode_status (None: no answer)."""
        answer = self._call(self.status_client, timeout_s)
        return json.loads(answer.message)['episodes_saved'] if answer is not None and answer.success else None

    def _call(self, client, timeout_s: float) -> Trigger.Response | None:
        if not client.wait_for_service(timeout_sec=timeout_s):
            return None
        future = client.call_async(Trigger.Request())
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.05)
        return future.result() if future.done() else None

    def _on_result(self, msg: String) -> None:
        result = json.loads(msg.data)
        if self.results and self.results[-1]['episodes'] >= result['episodes']:
            return   # the latched latest again
        self.results.append(result)
        print(f'  episode {result["episode"]}: {"success" if result["success"] else "FAILED"} in '
              f'{result["duration_s"]:.2f} s sim ({result["reason"]}; recording {result["recording"]})', flush=True)


def activate(node: Node, target: str, timeout_s: float) -> str | None:
    """Configure and activate the lifecycle node `target`; None on success, else what went wrong."""
    lifecycle = LifecycleClient(node, target)
    if not lifecycle.wait_for_services(timeout_s):
        return f'no {target}/change_state and get_state services after {timeout_s:g} s'
    try:
        if not lifecycle.go('active', timeout_s):
            return f'{target} did not configure and activate (see its log)'
    except TimeoutError as exc:
        return str(exc)
    return None


class ExpertVerb:
    help = ('Run the scripted pick-and-place expert on the sim cell (optionally recording a LeRobot dataset); '
            'print its success rate.')

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--episodes', type=int, default=3, help='episodes to run (default: 3)')
        parser.add_argument('--seed', type=int, default=0, help='seed of the sim (cube poses) and the expert')
        parser.add_argument('--record', metavar='DIR', default=None,
                            help='record the episodes as a LeRobot dataset in DIR (needs dojo_recorder)')
        parser.add_argument('--repo-id', default='dojo/so101_sim_demo', help='dataset repo id when recording')
        parser.add_argument('--features', default='so101_sim',
                            help='recorder feature map: a name in config/features or a YAML path')
        parser.add_argument('--out', default='outputs', help='folder for the node logs (default: outputs)')
        parser.add_argument('--sim-config', default=None,
                            help='sim_node parameter file (default: the installed config/sim.yaml)')
        parser.add_argument('--real-time-factor', type=float, default=None,
                            help='override sim_node real_time_factor (0 = as fast as possible)')
        parser.add_argument('--timeout', type=float, default=600.0, help='wall-clock limit in seconds')
        parser.add_argument('--ros-free', action='store_true',
                            help='with --record: play the same cube seeds without ROS (the sim cell and the expert in '
                                 'this process, faster than real time) and write the dataset directly')

    def main(self, args: argparse.Namespace) -> int:
        if args.episodes < 1:
            print('dojo expert: --episodes must be at least 1')
            return 2
        if args.ros_free:
            return self._record_ros_free(args)
        if args.record and importlib.util.find_spec(RECORDER_MODULE) is None:
            print(f'dojo expert: --record needs {RECORDER_MODULE} (the dojo_recorder package), which is not installed')
            return 1
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        config = share_dir('dojo_bringup') / 'config'
        sim_params: dict[str, object] = {'seed': args.seed}
        if args.real_time_factor is not None:
            sim_params['real_time_factor'] = args.real_time_factor
        if not args.record:
            sim_params.update({'front_camera.rate_hz': 0.0, 'wrist_camera.rate_hz': 0.0})
        sim_config = args.sim_config or config / 'sim.yaml'
        print(f'dojo expert: sim_node with {sim_config}, {args.episodes} expert episodes; logs in {out}', flush=True)
        started = time.monotonic()
        with NodeProcess('dojo_sim.sim_node', params_file=sim_config, parameters=sim_params,
                         log_path=out / 'sim_node.log') as sim:
            recorder = None
            if args.record:
                recorder = NodeProcess(RECORDER_MODULE, params_file=config / 'recorder.yaml', parameters={
                    'root': str(Path(args.record).resolve()), 'repo_id': args.repo_id, 'features': args.features,
                    'autostart': False, 'use_sim_time': True}, log_path=out / 'recorder_node.log').start()
            rclpy.init()
            try:
                client = ExpertClient()
                problem = activate(client, RECORDER_NODE, RECORDER_START_S) if recorder else None
                if problem:
                    print(f'dojo expert: {problem}')
                    return 1
                code = self._run_expert(args, config, out, client, started)
                if recorder:
                    saved = client.saved_episodes()
                    print(f'recorder: {"no answer from episode_status" if saved is None else saved} '
                          f'episode(s) saved in the dataset', flush=True)
                summary = self._summary(client.results, args.episodes, time.monotonic() - started)
                client.destroy_node()
            finally:
                rclpy.try_shutdown()
                if recorder is not None:
                    recorder_code = recorder.stop(timeout_s=RECORDER_STOP_S)   # saves and closes the dataset
                    print(f'dataset: {Path(args.record).resolve()} (recorder exit code {recorder_code})')
            print(summary)
            if not sim.alive():
                print('sim_node exited early; see its log')
                return 1
        return code

    @staticmethod
    def _record_ros_free(args: argparse.Namespace) -> int:
        if not args.record:
            print('dojo expert: --ros-free records a dataset (--record DIR); for success rates without ROS use '
                  '`dojo eval --policy expert --ros-free`')
            return 2
        print(f'dojo expert: {args.episodes} expert episodes without ROS into {args.record} (cube seeds from '
              f'{args.seed + 1})', flush=True)
        # one attempt per seed, as through the nodes: a failed episode is discarded, not replaced by the next seed
        summary = record_expert_dataset(args.record, args.episodes, seed=args.seed + 1, feature_map=args.features,
                                        repo_id=args.repo_id, max_attempts=args.episodes, progress=True)
        print(summary)
        tried = len(summary.saved) + len(summary.failed)
        print(f'expert success rate: {len(summary.saved)}/{tried} = {len(summary.saved) / tried:.0%}, '
              f'{summary.wall_s:.1f} s wall')
        return 0 if summary.saved else 1

    @staticmethod
    def _run_expert(args: argparse.Namespace, config: Path, out: Path, client: ExpertClient, started: float) -> int:
        expert = NodeProcess('dojo_sim.pick_place_expert', params_file=config / 'expert.yaml', parameters={
            'episodes': args.episodes, 'seed': args.seed, 'use_recorder': bool(args.record),
            'recorder_node': RECORDER_NODE}, log_path=out / 'pick_place_expert.log').start()
        try:
            while expert.alive() and time.monotonic() - started < args.timeout:
                rclpy.spin_once(client, timeout_sec=0.1)
            for _ in range(10):   # results published just before the expert exited
                rclpy.spin_once(client, timeout_sec=0.05)
        finally:
            code = expert.stop()
            if args.record and len(client.results) < args.episodes:
                print(f'discarding the unfinished episode\'s recording: {client.discard_recording()}', flush=True)
        if code != 0:
            print(f'pick_place_expert exited with {code}; see {out / "pick_place_expert.log"}')
        elif len(client.results) < args.episodes:
            print(f'heard {len(client.results)} of {args.episodes} episode results')
            return 1
        return code

    @staticmethod
    def _summary(results: list[dict], requested: int, wall_s: float) -> str:
        if not results:
            return f'expert success rate: 0/{requested} (no episode finished)'
        last = results[-1]
        durations = [r['duration_s'] for r in results if r['success']]
        mean = f', mean episode {sum(durations) / len(durations):.2f} s sim' if durations else ''
        return (f'expert success rate: {last["successes"]}/{last["episodes"]} = {last["success_rate"]:.0%}'
                f'{mean}, {wall_s:.1f} s wall')
