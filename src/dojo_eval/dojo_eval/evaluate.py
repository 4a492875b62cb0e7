"""`dojo eval`: success rate of a policy checkpoint (or the scripted expert) on the sim cell, through ROS.

Unlike dojo_core.evaluation.evaluate (the policy called in-process on a SimCell), this runs what
a robot would run: sim_node and policy_node as separate processes talking over topics, so the
feature mapping, asynchronous inference, safety holds and the lifecycle are part of the result.

Per episode, by the cell's episode protocol (dojo_ros.episode, as the expert node): pause the
policy (`policy_node/enable` false), `sim/reset`, wait until every topic of the feature map and
`sim/success` have delivered fresh messages (the policy must see before its time runs), enable,
wait for `sim/success` or `--time-limit` seconds of sim time, pause again. The
policy node's /diagnostics, published at every enable change, give the commands sent and the
holds by reason of exactly that episode. `--policy expert` runs dojo_ik's pick_place_expert
node instead (episodes and seed as parameters; its results come on `expert/episode_result`).

Seeds: sim_node runs with `--seed S` and its reset k uses S + k, so episode k (the (k+1)-th reset)
places the cube from seed S + k + 1 -- for the policy and the expert alike; the report lists them.

The report (dojo_core.evaluation.report: report.md, report.json, success.png) gives the success
rate with its 95 % Wilson interval, the mean time to success, and the holds. `--ros-free` runs
also say where each episode stopped (approach, grasp, lift, place) and write the failure analysis
beside the report (dojo_core.evaluation.failures: failures.md, failures.json, a plot per class).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String
from std_srvs.srv import SetBool

from dojo_core.cell_features import CellFeatures
from dojo_core.evaluation import EpisodeTrace, RolloutConfig, evaluate_with_traces, write_failure_analysis
from dojo_core.evaluation.report import EpisodeOutcome, EvalReport, add_hold_totals, with_holds, write_report
from dojo_core.policies.features import ACTION_KEY
from dojo_core.robot.description import share_dir
from dojo_core.expert import ExpertConfig
from dojo_core.policies import PolicyConfig, load_policy
from dojo_core.policies.hub import resolve_dir
from dojo_core.serving import ServingConfig, resolve_feature_map
from dojo_core.sim.protocol import TIME_LIMIT_S
from dojo_core.sync import FeatureMap, load_feature_map
from dojo_ros.episode import EpisodeDriver, EpisodeError
from dojo_ros.lifecycle import LifecycleClient
from dojo_ros.messages import message_class
from dojo_ros.process import NodeProcess
from dojo_ros.qos import LATCHED_QOS


POLICY_NODE = 'policy_node'
EXPERT = 'expert'
#: Wall seconds policy_node may take to start and load its checkpoint (a Hub download included).
CONFIGURE_TIMEOUT_S = 300.0
#: Wall seconds without sim progress (or an answer) before the evaluation gives up.
STALL_S = 60.0


class EvalError(EpisodeError):
    """The evaluation cannot go on (a node died, the policy does not configure); an EpisodeError, so
    that one handler also takes the episode protocol's (the sim does not answer, its time stands still)."""


class EvalClient(Node):
    """Drives the episodes from outside: sim/reset, policy_node/enable, sim/success, /diagnostics."""

    def __init__(self, processes: dict[str, NodeProcess], observed: dict[str, str] | None = None) -> None:
        """`observed`: {topic: type name} the policy reads, each waited for after a reset."""
        super().__init__('dojo_eval', parameter_overrides=[Parameter('use_sim_time', value=True)])
        self.processes = processes
        self.episode = EpisodeDriver(self, self.wait_until, stall_s=STALL_S, observed={
            topic: message_class(type_name) for topic, type_name in (observed or {}).items()})
        self.status: dict[str, dict[str, str]] = {}   # latest values of '<node>: <task>'
        self.messages: dict[str, str] = {}            # and its message
        self.expert_results: dict[int, dict] = {}    # by episode
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)
        self.create_subscription(String, 'expert/episode_result', self._on_expert_result, LATCHED_QOS)
        self.enable_client = self.create_client(SetBool, f'{POLICY_NODE}/enable')

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.status[status.name] = {kv.key: kv.value for kv in status.values}
            self.messages[status.name] = status.message

    def _on_expert_result(self, msg: String) -> None:
        result = json.loads(msg.data)
        self.expert_results[int(result['episode'])] = result

    # -- waiting ----------------------------------------------------------------------------------
    def check_processes(self) -> None:
        for name, process in self.processes.items():
            if not process.alive():
                raise EvalError(f'{name} exited with {process.process.returncode}; see {process.log_path}')

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Spin this node in the calling thread until `predicate()` (True) or timeout_s wall seconds
        (False); EvalError when a node process has died."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            self.check_processes()
            if time.monotonic() > deadline:
                return False
            rclpy.spin_once(self, timeout_sec=0.02)
        return True

    def spin_until(self, predicate: Callable[[], bool], what: str, timeout_s: float = STALL_S) -> None:
        if not self.wait_until(predicate, timeout_s):
            raise EvalError(f'no {what} within {timeout_s:g} s')

    def call(self, client, request):
        if not client.wait_for_service(timeout_sec=STALL_S):
            raise EvalError(f'no {client.srv_name} service')
        future = client.call_async(request)
        self.spin_until(future.done, f'answer from {client.srv_name}')
        return future.result()

    # -- policy episodes --------------------------------------------------------------------------
    def enable(self, on: bool) -> dict[str, int]:
        """Switch the policy on or off; the control counters published right after the switch."""
        name = f'{POLICY_NODE}: control'
        self.status.pop(name, None)
        self.call(self.enable_client, SetBool.Request(data=on))
        self.spin_until(lambda: self.status.get(name, {}).get('enabled') == str(on), f'{name} diagnostics')
        values = self.status[name]
        return {key: int(value) for key, value in values.items()
                if key in ('commands', 'holds') or key.startswith('holds.')}

    def policy_episode(self, seed: int, time_limit: float) -> tuple[EpisodeOutcome, dict[str, int]]:
        """One episode on the cube of `seed` (the next reset); its outcome and its holds by reason."""
        before = self.enable(False)
        self.episode.reset()
        self.enable(True)
        run = self.episode.run(time_limit)
        success, duration = run.success, run.duration_s
        after = self.enable(False)
        holds = {key[len('holds.'):]: after[key] - before.get(key, 0) for key in after
                 if key.startswith('holds.') and after[key] > before.get(key, 0)}
        reason = with_holds('cube placed' if success else 'time limit', holds)
        outcome = EpisodeOutcome(seed, success, duration if success else time_limit,
                                 after.get('commands', 0) - before.get('commands', 0), reason)
        return outcome, holds


def sim_camera_parameters(features: FeatureMap) -> dict[str, int]:
    """sim_node camera sizes (`<camera>_camera.width/height`) that the feature map's images need."""
    cameras = CellFeatures.from_feature_map(features).cameras
    return {f'{cam.camera}_camera.{key}': value for cam in cameras
            for key, value in (('width', cam.width), ('height', cam.height))}


def run_policy(args: argparse.Namespace, out: Path, sim: NodeProcess) -> EvalReport:
    """The episodes of a checkpoint; starts `sim` and policy_node."""
    sim.start()
    policy = NodeProcess('dojo_policy.policy_node', params_file=args.policy_config, parameters={
        'checkpoint': args.policy, 'feature_map': args.feature_map, 'device': args.device, 'use_sim_time': True,
        'start_enabled': False, 'autostart': False}, log_path=out / 'policy_node.log').start()
    try:
        observed = {spec.topic: spec.type for name, spec in args.map.features.items()
                    if name != ACTION_KEY}
        client = EvalClient({'sim_node': sim, POLICY_NODE: policy}, observed)
        lifecycle = LifecycleClient(client, POLICY_NODE)
        client.spin_until(lambda: lifecycle.wait_for_services(0.1), f'{POLICY_NODE} lifecycle services')
        if not lifecycle.go('active', timeout_s=CONFIGURE_TIMEOUT_S):
            rclpy.spin_once(client, timeout_sec=0.5)   # the diagnostics saying why
            reason = client.messages.get(f'{POLICY_NODE}: control', '')
            raise EvalError(f'{POLICY_NODE} did not configure and activate ({reason}); see {policy.log_path}')
        client.spin_until(client.episode.heard_all, f'{", ".join(observed)} and sim/success')
        report = EvalReport(args.name or _checkpoint_name(args.policy), [], {
            'agent': f'policy {args.policy} (policy_node, {args.map_source})', 'seed': args.seed,
            'time_limit_s': args.time_limit, 'real_time_factor': args.real_time_factor})
        per_episode = []
        for k in range(args.episodes):
            outcome, episode_holds = client.policy_episode(args.seed + k + 1, args.time_limit)
            report.episodes.append(outcome)
            per_episode.append(episode_holds)
            print(f'  episode {k} (cube seed {outcome.seed}): {"success" if outcome.success else "FAILED"} after '
                  f'{outcome.duration_s:.2f} s sim, {outcome.steps} commands; {outcome.reason}', flush=True)
        inference = client.status.get(f'{POLICY_NODE}: inference', {})
        report.info.update({key: inference[key] for key in ('execution', 'device', 'latency_p50_ms', 'latency_p99_ms')
                            if key in inference})
        add_hold_totals(report, per_episode)
        lifecycle.go('inactive')
        client.destroy_node()
        return report
    finally:
        policy.stop()


def run_expert(args: argparse.Namespace, out: Path, sim: NodeProcess) -> EvalReport:
    """The episodes of the scripted expert; starts pick_place_expert, then `sim`.

    Only the latest result is latched, and the expert plays an episode in well under a second of
    wall time at real_time_factor 0, faster than DDS discovery may take; so the sim (whose
    sim/reset the expert waits for) starts only once this client hears the expert, and the
    expert runs until stopped (episodes 0) rather than exiting with its last result unheard.
    """
    client = EvalClient({})
    expert = NodeProcess('dojo_sim.pick_place_expert', params_file=share_dir('dojo_bringup') / 'config' / 'expert.yaml',
                         parameters={'episodes': 0, 'seed': args.seed}, log_path=out / 'pick_place_expert.log').start()
    try:
        client.processes['pick_place_expert'] = expert
        client.spin_until(lambda: client.count_publishers('expert/episode_result') > 0, 'pick_place_expert')
        client.processes['sim_node'] = sim.start()
        report = EvalReport(args.name or EXPERT, [], {
            'agent': 'scripted pick-and-place expert (dojo_sim pick_place_expert)', 'seed': args.seed,
            'time_limit_s': args.time_limit, 'real_time_factor': args.real_time_factor,
            'holds': 'not applicable (no policy_node)'})
        for k in range(args.episodes):
            client.spin_until(lambda: any(e >= k for e in client.expert_results), f'the result of expert episode {k}',
                              timeout_s=max(STALL_S, 10 * args.time_limit))
            if k not in client.expert_results:   # only the latest result is latched
                raise EvalError(f'missed the result of expert episode {k}: expert/episode_result was matched late')
            result = client.expert_results[k]
            success = result['success'] and result['duration_s'] <= args.time_limit
            reason = result['reason'] if success or not result['success'] else 'placed after the time limit'
            report.episodes.append(EpisodeOutcome(args.seed + k + 1, success, result['duration_s'], result['steps'],
                                                  reason))
            print(f'  episode {k}: {"success" if success else "FAILED"} after {result["duration_s"]:.2f} s sim; '
                  f'{reason}', flush=True)
        client.destroy_node()
        return report
    finally:
        expert.stop()


def _checkpoint_name(checkpoint: str) -> str:
    path = Path(checkpoint)
    return path.parent.name if path.name == 'pretrained_model' else path.name or checkpoint


class EvalVerb:
    help = 'Evaluate a policy checkpoint (or the scripted expert) on the sim cell through ROS; write a report.'

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--policy', required=True,
                            help=f'checkpoint directory or Hub repo id, or "{EXPERT}" for the scripted expert')
        parser.add_argument('--episodes', type=int, default=10, help='episodes to run (default: 10)')
        parser.add_argument('--seed', type=int, default=0,
                            help='sim_node seed: episode k places the cube from seed + k + 1 (default: 0)')
        parser.add_argument('--time-limit', type=float, default=TIME_LIMIT_S,
                            help='sim seconds per episode before it counts as failed (default: 30)')
        parser.add_argument('--out', default='outputs/eval', help='report and node logs (default: outputs/eval)')
        parser.add_argument('--feature-map', default='',
                            help="feature map of the policy: a name in config/features or a YAML path that must agree "
                                 "with the checkpoint's; the sim cameras are sized to it (default: the map embedded "
                                 'in the checkpoint)')
        parser.add_argument('--real-time-factor', type=float, default=1.0,
                            help='sim_node real_time_factor: 1 gives the policy the time a robot would; '
                                 '0 runs as fast as possible (default: 1)')
        parser.add_argument('--device', default='auto', help='torch device of the policy (default: auto)')
        parser.add_argument('--sim-config', default=None,
                            help='sim_node parameter file (default: the installed config/sim.yaml)')
        parser.add_argument('--policy-config', default=None,
                            help='policy_node parameter file (default: the installed config/policy.yaml)')
        parser.add_argument('--name', default='', help='name of the agent in the report (default: from --policy)')
        parser.add_argument('--ros-free', action='store_true',
                            help='run the same episodes without ROS: the cell and the serving controller in this '
                                 'process on the sim clock (inference latency simulated from its measured wall '
                                 "time), with policy_node's serving parameters from --policy-config; faster than "
                                 'real time, same seeds and report, plus the failure analysis (failures.md: where '
                                 'each episode stopped)')

    @staticmethod
    def resolve_map(args: argparse.Namespace) -> dict[str, int]:
        """args.map: the feature map policy_node will serve the checkpoint with (the embedded one, or
        --feature-map checked against it), as policy_node resolves it; the sim camera parameters it needs."""
        if args.feature_map:   # a map the cell cannot serve is refused before the checkpoint is read
            sim_camera_parameters(load_feature_map(args.feature_map))
        config = PolicyConfig.load(resolve_dir(args.policy))
        args.map, args.map_source = resolve_feature_map(args.policy, config, args.feature_map)
        return sim_camera_parameters(args.map)

    def main(self, args: argparse.Namespace) -> int:
        if args.episodes < 1 or args.time_limit <= 0:
            print('dojo eval: --episodes must be at least 1 and --time-limit positive')
            return 2
        expert = args.policy == EXPERT
        try:
            cameras = {f'{cam}_camera.rate_hz': 0.0 for cam in ('front', 'wrist')} if expert else \
                self.resolve_map(args)
        except (ValueError, OSError) as exc:
            print(f'dojo eval: feature map {args.feature_map or "of the checkpoint"}: {exc}')
            return 2
        config = share_dir('dojo_bringup') / 'config'
        args.sim_config = args.sim_config or config / 'sim.yaml'
        args.policy_config = args.policy_config or config / 'policy.yaml'
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if args.ros_free:
            print(f'dojo eval: {args.episodes} episodes of {args.policy} without ROS (the serving controller on the '
                  'sim cell)', flush=True)
            report, traces = run_ros_free(args, expert)
            code = finish(report, out, started)
            print(f'failure analysis: {write_failure_analysis(report, traces, out).markdown}')
            return code
        print(f'dojo eval: {args.episodes} episodes of {args.policy} through sim_node '
              f'(real_time_factor {args.real_time_factor:g}); logs in {out}', flush=True)
        sim = NodeProcess('dojo_sim.sim_node', params_file=args.sim_config, parameters={
            'seed': args.seed, 'real_time_factor': args.real_time_factor, **cameras}, log_path=out / 'sim_node.log')
        rclpy.init()
        try:
            report = (run_expert if expert else run_policy)(args, out, sim)
        except EpisodeError as exc:   # an EvalError, or the sim's
            print(f'dojo eval: {exc}')
            return 1
        except ExternalShutdownException:   # rclpy's SIGINT/SIGTERM handler shut the context down mid-spin
            print('dojo eval: stopped by a signal before the last episode; no report written', flush=True)
            return 130
        finally:
            rclpy.try_shutdown()
            sim.stop()
        return finish(report, out, started)


def finish(report: EvalReport, out: Path, started: float) -> int:
    report.info['wall_s'] = round(time.monotonic() - started, 1)
    files = write_report(report, out, title=f'dojo eval: {report.name}')
    print(report.summary())
    print(f'report: {files.markdown}, {files.png}')
    return 0


def serving_parameters(params_file: Path) -> ServingConfig:
    """policy_node's serving settings from its parameter file (`/**/policy_node` section)."""
    sections = yaml.safe_load(Path(params_file).read_text()) or {}
    values = next((v.get('ros__parameters', {}) for k, v in sections.items() if k.split('/')[-1] == POLICY_NODE), {})
    names = {f.name for f in dataclasses.fields(ServingConfig)}
    return ServingConfig(**{k: v for k, v in values.items() if k in names})


def run_ros_free(args: argparse.Namespace, expert: bool) -> tuple[EvalReport, list[EpisodeTrace]]:
    """The same seeds and time limit as through the nodes, served by the same controller without ROS;
    the report and every episode's trace."""
    seeds = [args.seed + k + 1 for k in range(args.episodes)]
    if expert:
        report, traces = evaluate_with_traces(ExpertConfig(), seeds, name=args.name or 'expert', progress=True)
    else:
        policy = load_policy(args.policy, device='cpu' if args.device == 'auto' else args.device)
        report, traces = evaluate_with_traces(
            policy, seeds, name=args.name or _checkpoint_name(args.policy),
            rollout_config=RolloutConfig(time_limit_s=args.time_limit), serving=serving_parameters(args.policy_config),
            feature_map=args.map, progress=True)
        report.info['agent'] = f'policy {args.policy} (ROS-free serving controller, {args.map_source})'
    report.info.update({'seed': args.seed, 'ros_free': True})
    return report, traces
