"""recorder_node: records LeRobot v3.0 datasets live from the topics a feature map names.

A lifecycle node (`ros2 lifecycle set /recorder_node <transition>`; `autostart` does configure +
activate at start-up):

* configure: load the feature map (config/features/<features>.yaml or a path; `fps` overrides its
  rate), create the dataset at `root` or resume it -- repairing what a killed recorder left, and
  logging each repair action -- and subscribe to the mapped topics (SensorDataQoS with a 1 s
  history; the task topic transient local). A dataset whose features, fps or units differ from
  the map is refused.
* activate: ready to record; `~/start_episode`, `~/stop_episode` (saves) and `~/discard_episode`
  (std_srvs/Trigger) drive episodes, `max_episode_s` stops and saves one automatically. A stop
  ends the episode at the node-clock time of the call, then waits the feature map's `latency` for
  messages stamped before it that are still on their way (as `dojo convert` does at a stop
  marker), so the stop_episode reply comes latency + the save time later; it says the episode
  index, frames, real rate, drops by reason, refused messages and the save time.
  `~/episode_status` (std_srvs/Trigger) answers a JSON status (dojo_core.episode_status): a
  client whose stop_episode call died with the recorder asks the restarted recorder whether its
  episode was committed.
* deactivate: stops recording; an episode in progress is SAVED at once with the messages received
  so far (its frames are valid data; an operator who wants it gone calls discard_episode first).
* cleanup / shutdown / SIGINT: the same -- an episode in progress is saved -- then the writer is
  closed (and the dataset pushed to the Hub if `push_to_hub`). A recorder killed outright loses
  only the episode in progress: every saved episode stays readable, and the next configure
  repairs the rest (DatasetWriter's commit protocol).

Episode task: the `task` parameter, else the latest message on the feature map's task topic
(std_msgs/String, latched); a task that changes mid-episode applies from the next episode.

Threading (see dojo_core.recording.session). One SingleThreadedExecutor runs every callback:
messages are converted and buffered (about 1 ms for a VGA image) and the poll timer assembles
frames on the node clock (so use_sim_time is honoured); every DatasetWriter call -- encoding,
saving -- runs on the session's writer thread, so no callback ever waits for it. The services that
end an episode are coroutines: they await the save while the executor keeps taking messages, which
the stop's latency window needs. (rclpy's MultiThreadedExecutor was measured to spin a core on
mutually exclusive groups at camera rates and to fall behind; one thread keeps up.)

Bad messages (wrong image size or encoding, missing joints, NaN, unstamped, out of order, stamped
more than the feature map's `future_tolerance` ahead of the node clock) are refused before they reach a frame, counted by reason on /diagnostics and warned about once a
second; a tick left without valid data is dropped and counted, never written.
"""
from __future__ import annotations

import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile
from rclpy.task import Future as RclpyFuture
from std_msgs.msg import String
from std_srvs.srv import Trigger

from dojo_core.dataset import DatasetError, DatasetLockedError, VideoEncoderConfig, push_to_hub
from dojo_core.episode_status import STATUS_SERVICE, status_json
from dojo_core.recording import (
    DatasetSettings, EpisodeResult, RecordingError, RecordingSession, default_root, load_features,
)
from dojo_core.sync import ExtractionError, FeatureMapError, task_text
from dojo_ros.diagnostics import DiagnosticsPublisher, EventCounter
from dojo_ros.messages import message_class
from dojo_ros.params import declare_parameters
from dojo_ros.qos import LATCHED_QOS, SENSOR_QOS
from dojo_ros.runner import run_node

VIDEO_CODECS = ('libsvtav1', 'libx264')
#: How long deactivate waits for the save of the episode in progress.
SAVE_TIMEOUT_S = 300.0
#: Wall time beyond the feature map's latency that a stop waits for the node clock to pass it.
STOP_GRACE_S = 2.0
#: /diagnostics warns when more than this fraction of an episode's ticks was dropped.
DROP_WARN_FRACTION = 0.05
#: Seconds of messages each subscription may queue while the executor is busy: SensorDataQoS
#: (best effort, hears reliable and best-effort publishers) keeps only 5, which a moment of CPU
#: contention overruns at 30 Hz and which would silently become dropped frames.
SUBSCRIPTION_BUFFER_S = 1.0


def recorder_qos(fps: int) -> QoSProfile:
    """SENSOR_QOS with a history of SUBSCRIPTION_BUFFER_S at ``fps``."""
    return QoSProfile(history=SENSOR_QOS.history, depth=max(SENSOR_QOS.depth, round(SUBSCRIPTION_BUFFER_S * fps)),
                      reliability=SENSOR_QOS.reliability, durability=SENSOR_QOS.durability)


@dataclass
class RecorderConfig:
    """Parameters, read again at every configure (change them, then cleanup + configure)."""

    root: str = field(default='', metadata={
        'description': 'Dataset directory; an existing dataset is resumed. Empty = $HF_LEROBOT_HOME/<repo_id> '
                       '(~/.cache/huggingface/lerobot/<repo_id>, where LeRobot looks).'})
    repo_id: str = field(default='dojo/so101_sim', metadata={
        'description': 'Hugging Face dataset repo id (user/name): stored in info.json, used by push_to_hub.'})
    robot_type: str = field(default='', metadata={
        'description': "info.json robot_type of a new dataset; empty = the feature map's."})
    features: str = field(default='so101_sim', metadata={
        'description': 'Feature map: a name in config/features of dojo_bringup, or a path to a YAML file.'})
    fps: int = field(default=0, metadata={
        'description': "Dataset frame rate; 0 = the feature map's.", 'range': (0, 1000)})
    task: str = field(default='', metadata={
        'description': 'Task description of every episode; empty = the latest message on the task topic.'})
    video_codec: str = field(default='libsvtav1', metadata={
        'description': f'Video encoder of a new dataset, one of {VIDEO_CODECS} (a resumed one keeps its own).'})
    video_files_size_in_mb: float = field(default=200.0, metadata={
        'description': 'A camera starts a new mp4 file when the next episode would pass this size (MiB).',
        'range': (1.0, 1.0e6)})
    max_episode_s: float = field(default=0.0, metadata={
        'description': 'Stop and save an episode after this much time (node clock); 0 = no limit.',
        'range': (0.0, 86400.0)})
    push_to_hub: bool = field(default=False, metadata={
        'description': 'Upload the dataset to the Hugging Face Hub (repo_id) on cleanup and shutdown; '
                       '~/push_to_hub uploads on request.'})
    autostart: bool = field(default=True, metadata={
        'description': 'Configure and activate at start-up; false waits for `ros2 lifecycle set`.',
        'read_only': True})

    def __post_init__(self) -> None:
        if self.video_codec not in VIDEO_CODECS:
            raise ValueError(f'video_codec must be one of {VIDEO_CODECS}, got {self.video_codec!r}')
        if '/' not in self.repo_id.strip('/'):
            raise ValueError(f'repo_id must look like user/name, got {self.repo_id!r}')

    def dataset_settings(self) -> DatasetSettings:
        return DatasetSettings(
            root=Path(self.root).expanduser() if self.root else default_root(self.repo_id),
            repo_id=self.repo_id, robot_type=self.robot_type or None, video=VideoEncoderConfig(codec=self.video_codec),
            video_files_size_in_mb=self.video_files_size_in_mb)


class RecorderNode(LifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__('recorder_node', **kwargs)
        self.cfg = declare_parameters(self, RecorderConfig)
        self._session: RecordingSession | None = None
        self._active = False
        self._topic_task: str | None = None
        self._failure: str | None = None      # why the last configure failed
        self._refused = EventCounter()        # refusals outside the session (empty task messages)
        self._subscriptions_made: list[Any] = []
        self._poll_timer = None
        # Their own group: a service coroutine awaiting a save holds its group, and the messages
        # and timers (default group) must keep running meanwhile.
        services = ReentrantCallbackGroup()
        for name, handler in (('~/start_episode', self._on_start), ('~/stop_episode', self._on_stop),
                              ('~/discard_episode', self._on_discard), ('~/push_to_hub', self._on_push),
                              (f'~/{STATUS_SERVICE}', self._on_status)):
            self.create_service(Trigger, name, handler, callback_group=services)
        self.diagnostics = DiagnosticsPublisher(self, hardware_id='dojo_recorder')
        self.diagnostics.add_task('recording', self._diagnose)

    # -- lifecycle --------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.cfg = declare_parameters(self, RecorderConfig)
            features = load_features(self.cfg.features, fps=self.cfg.fps)
            classes = {topic: message_class(type_name) for topic, type_name in features.topics().items()}
            self._session = RecordingSession(self.cfg.dataset_settings(), features)
        except (FeatureMapError, RecordingError, DatasetError, DatasetLockedError, ValueError, OSError) as exc:
            self._failure = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'configure failed: {self._failure}')
            return TransitionCallbackReturn.FAILURE
        self._failure = None
        for note in self._session.notes:
            self.get_logger().info(note)
        qos = recorder_qos(features.fps)
        for topic, message_type in classes.items():
            self._subscriptions_made.append(self.create_subscription(
                message_type, topic, lambda msg, t=topic: self._on_message(t, msg), qos))
        if features.task_topic is not None:
            self._subscriptions_made.append(self.create_subscription(
                String, features.task_topic, self._on_task, LATCHED_QOS))
        self.get_logger().info(f'recording {", ".join(features.features)} at {features.fps} fps into '
                               f'{self._session.root}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._poll_timer = self.create_timer(1.0 / self._session.features.fps, self._on_poll)
        self._active = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._destroy_timer()
        if self._session.recording:   # save now: a transition cannot await the latency window
            self._log_result(self._session.stop_episode().result(timeout=SAVE_TIMEOUT_S), 'deactivate')
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.finish()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.finish()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.finish()
        return TransitionCallbackReturn.SUCCESS

    def start(self) -> None:
        """At process start (dojo_ros.runner): configure and activate when `autostart` is set."""
        if self.cfg.autostart and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def stop(self) -> None:
        """At process end, however it ends (Ctrl-C, SIGTERM): save the episode in progress, as on_shutdown does."""
        self.finish()

    def finish(self) -> None:
        """Save an episode in progress, close the dataset, push it if asked (idempotent; SIGINT path too)."""
        self._active = False
        self._destroy_timer()
        for subscription in self._subscriptions_made:
            self.destroy_subscription(subscription)
        self._subscriptions_made.clear()
        session, self._session = self._session, None
        if session is None:
            return
        result = session.close(save=True)
        if result is not None:
            self._log_result(result, 'shutting down')
        self.get_logger().info(f'closed {session.root}')
        if self.cfg.push_to_hub:
            self._push(session)

    def _destroy_timer(self) -> None:
        if self._poll_timer is not None:
            self.destroy_timer(self._poll_timer)
            self._poll_timer = None

    # -- data path --------------------------------------------------------------------------------
    def _on_message(self, topic: str, msg: Any) -> None:
        session = self._session
        if session is None:
            return
        for error in session.push(topic, msg, self._watched_now(session)):
            self.get_logger().warning(f'refused a message on {topic} ({error.reason}): {error}',
                                      throttle_duration_sec=1.0)

    def _on_task(self, msg: String) -> None:
        try:
            text = task_text(msg)
        except ExtractionError as exc:
            self._refused.increment(exc.reason)
            self.get_logger().warning(f'refused a message on the task topic ({exc.reason}): {exc}')
            return
        if text != self._topic_task:
            self._topic_task = text
            self.get_logger().info(f'task: {text!r}' + (' (applies from the next episode)'
                                                        if self._session is not None and self._session.recording
                                                        else ''))

    def _on_poll(self) -> None:
        session = self._session
        if session is None or not session.recording:
            return
        session.poll(self._watched_now(session))   # also finishes a stop whose latency has passed
        limit = self.cfg.max_episode_s
        if limit > 0 and session.recording and session.episode_duration_s() >= limit:
            self._request_stop(f'max_episode_s ({limit:g} s) reached')

    def _now(self) -> int:
        return self.get_clock().now().nanoseconds

    def _watched_now(self, session: RecordingSession) -> int:
        """The clock, after the session has checked it for a jump back (a restarted sim): an episode
        recording then ends at the jump and is saved."""
        now = self._now()
        ended = session.watch_clock(now)
        if ended is not None:
            self.get_logger().warning('the clock jumped back (a restarted simulation?): the episode ends at '
                                      'the last time before the jump')
            ended.add_done_callback(lambda f: self._log_done(f, 'clock jumped back'))
        return now

    def _request_stop(self, why: str) -> Future[EpisodeResult]:
        """Stop now; the poll timer saves the episode `latency` later, once the messages stamped
        before the stop have had time to arrive (as a bag conversion would see them). Raises
        RecordingError when no episode is being recorded."""
        first = not self._session.stopping
        future = self._session.request_stop(self._now())
        if first:
            future.add_done_callback(lambda f: self._log_done(f, why))
        return future

    async def _result(self, future: Future[Any]) -> Any:
        """Await a writer-thread Future without blocking the executor (messages keep coming)."""
        done = RclpyFuture()
        executor = self.executor

        def relay(_: Future[Any]) -> None:
            done.set_result(None)
            executor.wake()   # the awaiting service resumes on the executor's next turn
        future.add_done_callback(relay)
        await done
        return future.result()

    def _log_done(self, future: Future[EpisodeResult], why: str) -> None:
        try:
            self._log_result(future.result(), why)
        except Exception as exc:  # noqa: BLE001 - a failed save is reported, the node keeps running
            self.get_logger().error(f'saving the episode ({why}) failed: {type(exc).__name__}: {exc}')

    def _log_result(self, result: EpisodeResult, why: str) -> None:
        # rclpy refuses one call site logging at two severities: one call per severity.
        if result.error is None:
            self.get_logger().info(f'{result.message()} [{why}]')
        else:
            self.get_logger().error(f'{result.message()} [{why}]')

    # -- services ---------------------------------------------------------------------------------
    def _on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self._active or self._session is None:
            response.success, response.message = False, 'the recorder is not active; configure and activate it first'
            return response
        task = self.cfg.task or self._topic_task
        try:
            index = self._session.start_episode(task or '', self._now())
        except RecordingError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success, response.message = True, f'episode {index} started: {task!r}'
        self.get_logger().info(response.message)
        return response

    async def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            session = self._configured()
            future = self._request_stop('stop_episode')
        except RecordingError as exc:
            response.success, response.message = False, str(exc)
            return response
        # The poll timer finishes the stop once the node clock passed it by `latency`; if that
        # clock stands still (a paused sim), this finishes it after as much wall time.
        stalled = threading.Timer(session.latency_ns / 1e9 + STOP_GRACE_S, session.finish_stop)
        stalled.start()
        try:
            result = await self._result(future)
        finally:
            stalled.cancel()
        response.success, response.message = result.error is None, result.message()
        return response

    async def _on_discard(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            future = self._configured().discard_episode()
        except RecordingError as exc:
            response.success, response.message = False, str(exc)
            return response
        result = await self._result(future)
        self._log_result(result, 'discard_episode')
        response.success, response.message = result.error is None, result.message()
        return response

    def _on_status(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            response.message = status_json(self._configured().status())
        except RecordingError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = True
        return response

    def _configured(self) -> RecordingSession:
        if self._session is None:
            raise RecordingError('the recorder is not configured')
        return self._session

    async def _on_push(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            url = await self._result(self._configured().push_to_hub())
        except Exception as exc:  # noqa: BLE001 - network, auth, validation: all reported to the caller
            response.success = False
            response.message = f'push to {self.cfg.repo_id} failed: {type(exc).__name__}: {exc}'
            self.get_logger().error(response.message)
            return response
        response.success, response.message = True, f'pushed to {url}'
        self.get_logger().info(response.message)
        return response

    def _push(self, session: RecordingSession) -> None:
        try:
            url = push_to_hub(session.root, self.cfg.repo_id)
        except Exception as exc:  # noqa: BLE001 - the recording is safe on disk whatever the Hub says
            self.get_logger().error(f'push to {self.cfg.repo_id} failed: {type(exc).__name__}: {exc}')
            return
        self.get_logger().info(f'pushed {session.root} to {url}')

    # -- diagnostics ------------------------------------------------------------------------------
    def _diagnose(self) -> tuple[bytes, str, dict[str, object]]:
        session = self._session
        if session is None:
            if self._failure:
                return DiagnosticStatus.ERROR, f'configure failed: {self._failure}', {}
            return DiagnosticStatus.OK, 'not configured', {}
        s = session.status()
        values: dict[str, object] = {
            'dataset': str(session.root), 'active': self._active, 'recording': s.recording,
            'episodes_saved': s.saved_episodes, 'episode_index': s.episode_index, 'frames': s.frames,
            'duration_s': s.duration_s, 'fps': session.features.fps, 'rate_hz': s.rate_hz, 'dropped': s.dropped,
            **{f'dropped.{k}': v for k, v in sorted(s.dropped_by_reason.items())},
            **{f'rejected.{k}': v for k, v in sorted({**s.rejected, **self._refused.snapshot()}.items())},
            'writer_backlog': s.backlog, 'task': s.task or self.cfg.task or self._topic_task or '',
        }
        if s.last is not None:
            values['last_episode'] = s.last.message()
        if s.last is not None and s.last.error is not None:
            return DiagnosticStatus.ERROR, s.last.message(), values
        if s.recording:
            message = (f'recording episode {s.episode_index}: {s.frames} frames at {s.rate_hz:.1f} Hz, '
                       f'{s.dropped} dropped')
            lossy = s.dropped > DROP_WARN_FRACTION * (s.frames + s.dropped)
            return (DiagnosticStatus.WARN if lossy else DiagnosticStatus.OK), message, values
        return DiagnosticStatus.OK, f'{"ready" if self._active else "inactive"}, {s.saved_episodes} episodes', values


def main(args: list[str] | None = None) -> int:
    # dojo_ros.runner: a second Ctrl-C (launch forwards the terminal's ~3 ms later) never interrupts
    # stop(), which saves the episode in progress; SIGINT's shutdown racing the spin is a normal end.
    return run_node('recorder_node', RecorderNode, args, threads=1)


if __name__ == '__main__':
    sys.exit(main())
