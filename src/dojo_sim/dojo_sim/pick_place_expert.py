"""pick_place_expert: dojo_core's scripted pick-and-place expert driving sim_node over ROS, episode by episode.

Each episode follows the cell's episode protocol (dojo_ros.episode, as `dojo eval` does): call
`sim/reset` (std_srvs/Trigger), hold the arm at the home pose on `joint_commands`, wait for fresh
`joint_states`, `sim/object_pose` and `sim/success` and for the arm to rest at home, start a
recording if a recorder is used, plan with `PickPlaceExpert`, stream the plan's joint targets at
the control rate on a sim-time timer, then give the cube `settle_time` sim seconds to come to rest
in the bin (`sim/success`). The result goes to the log and, as one JSON object per
episode (std_msgs/String, transient local: a late subscriber still gets the latest, which carries
the running totals), to `expert/episode_result`; the state and success rate go to /diagnostics.
After `episodes` episodes (0 = until stopped) the node logs the success rate and exits 0, so a
script or `dojo expert` can run it to completion.

Recording is optional: with `use_recorder` and a recorder's `<recorder_node>/start_episode`,
`stop_episode` and `discard_episode` services (std_srvs/Trigger) available, every episode is
recorded from the held home pose to its end and saved, or discarded when planning failed (and,
unless `save_failed_episodes`, when the cube was not placed). Without them the episodes run
unrecorded. A stop_episode call that gets no answer (the recorder died during the save) is not
taken as lost: the node asks the recorder's `episode_status` (a restarted recorder answers it
from the dataset) whether the episode was committed (dojo_core.episode_status).

The node plays sim episodes only, so it runs on sim time (use_sim_time is set on construction):
the plan plays at the sim's pace whatever the real-time factor. Episode k plans with the random
stream [seed + k, 1], as `dojo_core.expert.run_episode` does for seed + k.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.client import Client
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from dojo_core.expert import EpisodeResult, ExpertConfig, PickPlaceExpert
from dojo_core.expert.episode import EXPERT_STREAM
from dojo_core.episode_status import STATUS_SERVICE, reply_episode, was_saved
from dojo_core.kinematics.cartesian import PlanningError
from dojo_core.kinematics.model import RobotModel
from dojo_core.robot.description import JOINT_NAMES
from dojo_core.sim import SimConfig
from dojo_core.sim.protocol import SETTLE_TIME_S
from dojo_ik.common import (HOLDING, CommandStreamer, JointStateMonitor, StreamConfig, init_without_signal_handlers,
                            spin_until_stopped)
from dojo_ros.diagnostics import DiagnosticsPublisher
from dojo_ros.episode import EpisodeDriver, EpisodeError
from dojo_ros.params import declare_parameters
from dojo_ros.qos import LATCHED_QOS

# Wall seconds each episode_status call may take (a restarted recorder answers within ms).
STATUS_CALL_S = 2.0
# After a reset the arm must rest at the home pose (within this many rad) for this many
# joint_states in a row before an episode starts.
SETTLE_TOLERANCE = 0.02
SETTLED_MESSAGES = 5


@dataclass
class ExpertNodeConfig:
    """Episodes, timing and recording of the expert node (the plan itself: the ExpertConfig parameters)."""

    episodes: int = field(default=10, metadata={
        'description': 'Episodes to run before exiting; 0 = until stopped.', 'range': (0, 1_000_000)})
    seed: int = field(default=0, metadata={
        'description': "Seed of the expert's randomisation: episode k draws from [seed + k, 1]. The cube pose "
                       "is the sim's (sim_node seed + reset count)."})
    settle_time: float = field(default=SETTLE_TIME_S, metadata={
        'description': 'Sim seconds after the plan ends for the cube to come to rest in the bin (sim/success).',
        'range': (0.0, 30.0)})
    base_frame: str = field(default='base_link', metadata={
        'description': 'Frame sim/object_pose must be in (the planning frame).'})
    home_positions: list[float] = field(default_factory=lambda: list(SimConfig().home_positions), metadata={
        'description': f'The arm pose after sim/reset (rad, {list(JOINT_NAMES)}), as in sim.yaml: after each reset the '
                       'expert holds the arm there, overriding any command the sim still had queued from the '
                       'previous episode, and plans from there.'})
    stall_timeout_s: float = field(default=30.0, metadata={
        'description': 'Wall seconds to wait for a service answer, or for sim time or messages to move on, '
                       'before giving up (exit 1).', 'range': (1.0, 3600.0)})
    use_recorder: bool = field(default=False, metadata={
        'description': 'Record every episode through the recorder services of recorder_node, when they exist.'})
    recorder_node: str = field(default='recorder_node', metadata={
        'description': 'Recorder node whose <name>/start_episode, stop_episode and discard_episode '
                       '(std_srvs/Trigger) are called.'})
    recorder_wait_s: float = field(default=10.0, metadata={
        'description': 'Wall seconds to wait at start-up for the recorder services; then run unrecorded.',
        'range': (0.0, 600.0)})
    save_failed_episodes: bool = field(default=False, metadata={
        'description': 'Save the recordings of episodes whose cube was not placed (default: discard them).'})

    def __post_init__(self) -> None:
        if len(self.home_positions) != len(JOINT_NAMES):
            raise ValueError(f'home_positions needs {len(JOINT_NAMES)} values, got {len(self.home_positions)}')


class ExpertError(RuntimeError):
    """A recorder service did not answer in time (logged; the episode goes on)."""


class PickPlaceExpertNode(Node):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('parameter_overrides', [Parameter('use_sim_time', value=True)])
        super().__init__('pick_place_expert', **kwargs)
        self.cfg = declare_parameters(self, ExpertNodeConfig)
        self.stream_cfg = declare_parameters(self, StreamConfig)
        self.expert_cfg = declare_parameters(self, ExpertConfig)
        self.model = RobotModel()
        self.expert = PickPlaceExpert(self.model, self.expert_cfg)
        self.joints = JointStateMonitor(self)
        self.streamer = CommandStreamer(self, self.stream_cfg, self.model.limits)
        self.episode = EpisodeDriver(self, self._wait_until, stall_s=self.cfg.stall_timeout_s,
                                     observed={'joint_states': JointState, 'sim/object_pose': PoseStamped})
        self.recorder: dict[str, Client] = {}
        if self.cfg.use_recorder:
            self.recorder = {name: self.create_client(Trigger, f'{self.cfg.recorder_node}/{name}_episode')
                             for name in ('start', 'stop', 'discard')}
            self.recorder_status = self.create_client(Trigger, f'{self.cfg.recorder_node}/{STATUS_SERVICE}')
        self.recorded_index: int | None = None   # the recorder's index of the episode being recorded
        self.result_pub = self.create_publisher(String, 'expert/episode_result', LATCHED_QOS)
        self.results: list[EpisodeResult] = []
        self.state = 'starting'
        self.recording = 'off'
        self.stop_requested = threading.Event()   # set from the main thread on SIGINT/SIGTERM
        self.diagnostics = DiagnosticsPublisher(self, hardware_id='dojo_sim')
        self.diagnostics.add_task('episodes', self._diagnose)

    # -- episodes ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Run the requested episodes (raises EpisodeError when the sim does not answer)."""
        self.episode.wait_for_sim()
        self._connect_recorder()
        episode = 0
        while self.cfg.episodes == 0 or episode < self.cfg.episodes:
            result, recorded = self.run_episode(episode)
            self.results.append(result)
            self._report(episode, result, recorded)
            episode += 1
        self.state = 'done'

    def run_episode(self, episode: int) -> tuple[EpisodeResult, str]:
        """One episode: reset, record, plan, play, judge. Returns the result and what became of its recording."""
        self.state = 'resetting'
        self.streamer.stop()
        self.episode.wait_fresh(['joint_states'])   # fewer of our commands still queued in the sim
        q_now = self.model.limits.clamp(np.asarray(self.cfg.home_positions, dtype=float))
        # The sim can still take commands of the previous episode after the reset (its executor
        # serves the reset and queued commands in no fixed order), which would pull the arm back
        # towards the old pose; the hold, published every period from the answer on, comes after them.
        self.episode.reset(on_reset=lambda: self.streamer.hold(q_now))
        self._wait_at_home(q_now)
        recording = self._recorder_call('start') if self.recorder else False
        self.state = 'planning'
        try:
            cube = self._cube_pose()
            plan = self.expert.plan(q_now, cube, np.random.default_rng([self.cfg.seed + episode, EXPERT_STREAM]))
        except PlanningError as exc:
            self.streamer.stop()
            recorded = self._end_recording(recording, keep=False)
            return EpisodeResult(False, 0.0, 0, f'planning failed: {exc}'), recorded
        self.get_logger().info(f'episode {episode}: cube at [{cube[0][0]:.3f}, {cube[0][1]:.3f}] m, '
                               f'playing a {plan.duration:.2f} s plan')
        self.state = 'playing'
        start, published = self.episode.now(), self.streamer.published
        self.streamer.play(plan)
        self.episode.wait_sim(lambda: self.streamer.state == HOLDING, 'the plan to play')
        self.state = 'settling'
        settled = self.episode.run(self.cfg.settle_time, 'the cube to settle')
        success, duration, steps = settled.success, settled.end_s - start, self.streamer.published - published
        recorded = self._end_recording(recording, keep=success or self.cfg.save_failed_episodes)
        self.streamer.stop()
        if success:
            return EpisodeResult(True, duration, steps, 'cube placed'), recorded
        p = self.episode.latest('sim/object_pose').pose.position
        return EpisodeResult(False, duration, steps, f'not placed: cube at [{p.x:.3f}, {p.y:.3f}, {p.z:.3f}] m '
                                                     f'{self.cfg.settle_time:g} s after the plan'), recorded

    def _wait_at_home(self, target: np.ndarray) -> None:
        """Wait until joint_states show the arm resting at `target` (where the plan starts)."""
        progress = {'seen': self.joints.count, 'steady': 0}

        def settled() -> bool:
            count = self.joints.count
            if count != progress['seen']:
                progress['seen'] = count
                close = np.abs(self.joints.position - target).max() < SETTLE_TOLERANCE
                progress['steady'] = progress['steady'] + 1 if close else 0
            return progress['steady'] >= SETTLED_MESSAGES

        self.episode.wait_sim(settled, 'the arm to rest at home_positions after the reset')

    def _cube_pose(self) -> tuple[np.ndarray, np.ndarray]:
        msg = self.episode.latest('sim/object_pose')
        if msg.header.frame_id not in ('', self.cfg.base_frame):
            raise PlanningError(f'sim/object_pose is in frame {msg.header.frame_id!r}, not {self.cfg.base_frame!r}')
        p, o = msg.pose.position, msg.pose.orientation
        return np.array([p.x, p.y, p.z]), np.array([o.w, o.x, o.y, o.z])

    def _report(self, episode: int, result: EpisodeResult, recorded: str) -> None:
        successes = sum(r.success for r in self.results)
        summary = {'episode': episode, 'expert_seed': self.cfg.seed + episode, 'success': result.success,
                   'duration_s': round(result.duration_s, 3), 'steps': result.steps, 'reason': result.reason,
                   'recording': recorded, 'episodes': len(self.results), 'successes': successes,
                   'success_rate': successes / len(self.results)}
        self.result_pub.publish(String(data=json.dumps(summary)))
        text = (f'episode {episode}: {"success" if result.success else "FAILED"} in {result.duration_s:.2f} s sim '
                f'({result.reason}; recording {recorded}) - {successes}/{len(self.results)} so far')
        if result.success:
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)

    def summary(self) -> str:
        successes = sum(r.success for r in self.results)
        if not self.results:
            return 'no episodes run'
        durations = [r.duration_s for r in self.results if r.success]
        mean = f', mean episode {np.mean(durations):.2f} s sim' if durations else ''
        return f'{successes}/{len(self.results)} episodes placed the cube ({successes / len(self.results):.0%}){mean}'

    def flush_results(self, timeout_s: float = 2.0) -> None:
        """Wait until a subscriber has matched and every matched one has acknowledged the results
        (before the process exits, which takes the transient-local copy with it). On a loaded
        machine discovery can take longer than a short run: without the first wait, a listener
        such as `dojo expert` could match after the node had already gone."""
        deadline = time.monotonic() + timeout_s
        while self.results and self.result_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.result_pub.wait_for_all_acked(Duration(seconds=max(0.1, deadline - time.monotonic())))

    # -- recorder ---------------------------------------------------------------------------------
    def _connect_recorder(self) -> None:
        if not self.recorder:
            return
        wait_s = self.cfg.recorder_wait_s
        if all(self._wait_until(client.service_is_ready, wait_s) for client in self.recorder.values()):
            self.recording = 'ready'
            self.get_logger().info(f'recording every episode through {self.cfg.recorder_node}')
        else:
            self.recorder = {}
            self.recording = 'unavailable'
            self.get_logger().warning(f'no {self.cfg.recorder_node}/start_episode, stop_episode and discard_episode '
                                      f'services after {self.cfg.recorder_wait_s:g} s: running without recording')

    def _recorder_call(self, name: str) -> bool:
        """Call <recorder>/<name>_episode; a failure is logged and the episode goes on unrecorded."""
        try:
            answer = self._call(self.recorder[name], f'{self.cfg.recorder_node}/{name}_episode')
        except ExpertError as exc:
            self.get_logger().error(str(exc))
            return False
        if not answer.success:
            self.get_logger().error(f'{self.cfg.recorder_node}/{name}_episode refused: {answer.message}')
        self.recording = 'recording' if name == 'start' and answer.success else 'ready'
        if name == 'start':
            self.recorded_index = reply_episode(answer.message) if answer.success else None
        return answer.success

    def _end_recording(self, recording: bool, keep: bool) -> str:
        if not recording:
            return 'off' if not self.recorder else 'not started'
        if keep:
            if self._recorder_call('stop'):
                return 'saved'
            return 'saved (confirmed by episode_status)' if self._saved_after_all() else 'save failed'
        return 'discarded' if self._recorder_call('discard') else 'discard failed'

    def _saved_after_all(self) -> bool:
        """Whether the episode whose stop got no good answer was committed anyway, by the recorder's
        episode_status (asked until stall_timeout_s, through a restart: a dead recorder's endpoint
        may linger and never answer, so each call gets a few seconds)."""
        index, what = self.recorded_index, f'{self.cfg.recorder_node}/{STATUS_SERVICE}'
        deadline = time.monotonic() + self.cfg.stall_timeout_s
        while index is not None and time.monotonic() < deadline:
            try:
                answer = self._call(self.recorder_status, what, timeout_s=STATUS_CALL_S)
            except ExpertError:
                continue
            if answer.success:
                saved = was_saved(answer.message, index)
                self.get_logger().warning(f'{what}: episode {index} {"was" if saved else "was NOT"} saved')
                return saved
            time.sleep(STATUS_CALL_S)   # not configured yet
        return False

    # -- waiting ----------------------------------------------------------------------------------
    def _check_running(self) -> None:
        if self.stop_requested.is_set() or not rclpy.ok(context=self.context):
            raise KeyboardInterrupt

    def _wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Poll `predicate()` from the episode thread while the executor spins; False after timeout_s
        wall seconds, KeyboardInterrupt when the node is stopping."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            self._check_running()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def _call(self, client: Client, what: str, timeout_s: float | None = None) -> Trigger.Response:
        timeout_s = self.cfg.stall_timeout_s if timeout_s is None else timeout_s
        future = client.call_async(Trigger.Request())
        if not self._wait_until(future.done, timeout_s):
            client.remove_pending_request(future)
            raise ExpertError(f'{what} did not answer within {timeout_s:g} s')
        return future.result()

    # -- diagnostics ------------------------------------------------------------------------------
    def _diagnose(self) -> tuple[bytes, str, dict[str, object]]:
        successes = sum(r.success for r in self.results)
        values: dict[str, object] = {
            'state': self.state, 'episodes': len(self.results), 'episodes_requested': self.cfg.episodes,
            'successes': successes, 'success_rate': successes / len(self.results) if self.results else 0.0,
            'recording': self.recording, 'commands_published': self.streamer.published,
        }
        if self.results:
            values['last_result'] = self.results[-1].reason
        failed = bool(self.results) and not self.results[-1].success
        return (DiagnosticStatus.WARN if failed else DiagnosticStatus.OK), f'{self.state}: {self.summary()}', values


def main(args: list[str] | None = None) -> int:
    init_without_signal_handlers(args)
    try:
        node = PickPlaceExpertNode()
    except (TypeError, ValueError) as exc:   # bad parameters: say what is wrong, no traceback
        get_logger('pick_place_expert').fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    # The episodes run in a worker thread that waits on what this thread's executor receives; no
    # callback blocks, so one executor thread is enough, and it has stopped before the teardown.
    codes: list[int] = []

    def work() -> None:
        try:
            node.run()
            codes.append(0)
        except EpisodeError as exc:   # no sim, or it stopped
            node.get_logger().fatal(str(exc))
            codes.append(1)
        except KeyboardInterrupt:   # stop requested (a signal)
            codes.append(0)

    worker = threading.Thread(target=work, name='episodes', daemon=True)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    worker.start()
    try:
        spin_until_stopped(executor, node, done=lambda: not worker.is_alive())
    finally:
        node.stop_requested.set()   # every wait of the worker checks it
        worker.join(timeout=10.0)
        node.streamer.stop()
        node.get_logger().info(f'expert: {node.summary()}')
        node.flush_results()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return codes[0] if codes else 1


if __name__ == '__main__':
    sys.exit(main())
