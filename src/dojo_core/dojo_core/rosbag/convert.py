"""`dojo convert BAG... --features X --out DIR`: rosbag2 bags -> a LeRobot v3.0 dataset, without ROS.

The bag's messages go through the same RecordingSession as the live recorder node's (feature
extraction, frame assembly at `fps`, held commands, the writer thread), fed in log order with the
log time as receive time and polled after every message -- which is how a bag replayed to the
recorder and the same bag converted give identical frames.

Episodes: each bag is one episode, from its first message to its last, unless
`--episode-marker-topic` names a topic of start/stop markers (see markers.py). Task: `--task`, or
the task topic of the feature map: the latest task logged at or before the episode's start, else
the first one logged after it (rosbag2 stores a latched task when it subscribes, which can be a
moment after the first sensor messages). The output dataset is created, or resumed (and repaired)
when it exists, exactly as the recorder node does.
"""
from __future__ import annotations

import argparse
import bisect
import sys
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from dojo_core.dataset import DatasetError, DatasetLockedError, VideoEncoderConfig
from dojo_core.recording import DatasetSettings, EpisodeResult, RecordingError, RecordingSession, load_features
from dojo_core.rosbag.bag import BagError, BagSource
from dojo_core.rosbag.markers import MARKER_TYPES, STRING, MarkerAction, marker_action
from dojo_core.sync import ExtractionError, FeatureMap, FeatureMapError, task_text
from dojo_core.sync.feature_spec import TIMELINES


@dataclass
class ConversionReport:
    """Episodes written (or not, with why), and what the bags held that was not used."""

    episodes: list[EpisodeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    messages: int = 0
    ignored_markers: int = 0

    @property
    def saved(self) -> list[EpisodeResult]:
        return [result for result in self.episodes if result.saved]


def convert(bags: Sequence[str | Path], features: FeatureMap, settings: DatasetSettings, *,
            task: str | None = None, marker_topic: str | None = None, namespace: str = '/',
            progress: bool = False) -> ConversionReport:
    """Record the episodes of ``bags`` (in the order given) into the dataset of ``settings``.

    Every bag is opened and checked first, so an unreadable bag or a topic of the wrong type is
    reported before the dataset is created or touched.
    """
    report = ConversionReport()
    conversions = [_BagConversion(Path(bag), features, report, task=task, marker_topic=marker_topic,
                                  namespace=namespace, progress=progress) for bag in bags]
    for conversion in conversions:
        conversion.open().close()
    session = RecordingSession(settings, features, wait_for_writer=True)
    report.notes += session.notes
    futures: list[Future[EpisodeResult]] = []
    completed = False
    try:
        for conversion in conversions:
            conversion.run(session, futures)
        completed = True
    finally:
        session.close(save=completed)   # an error mid-bag leaves that episode out
        report.episodes = [future.result() for future in futures]
    return report


class _BagConversion:
    """One bag through a session: markers and task resolution around push/poll."""

    def __init__(self, path: Path, features: FeatureMap, report: ConversionReport, *, task: str | None,
                 marker_topic: str | None, namespace: str, progress: bool) -> None:
        self.path, self.features, self.report = path, features, report
        self.task, self.marker_topic, self.namespace, self.progress = task, marker_topic, namespace, progress
        self.task_topic = None if task else features.task_topic
        self.data_topics = set(features.topics())
        self.tasks: list[tuple[int, str]] = []
        self.session: RecordingSession | None = None   # set by run
        self.futures: list[Future[EpisodeResult]] = []
        self.stop_due: int | None = None   # log time at which a requested stop is finished

    def open(self) -> BagSource:
        """The bag, checked: data topics of the map's types, markers of a marker type."""
        topics: dict[str, str | None] = dict(self.features.topics())
        if self.marker_topic is not None:
            if self.marker_topic in topics or self.marker_topic == self.task_topic:
                raise BagError(f'the marker topic {self.marker_topic} is also read as data')
            topics[self.marker_topic] = None
        if self.task_topic is not None and self.task_topic not in topics:
            topics[self.task_topic] = STRING
        source = BagSource(self.path, topics, self.namespace)
        marker_type = source.types.get(self.marker_topic)
        if marker_type is not None and marker_type not in MARKER_TYPES:
            source.close()
            raise BagError(f'{self.path}: marker topic {self.marker_topic} is {marker_type}; '
                           f'markers must be one of {MARKER_TYPES}')
        return source

    def run(self, session: RecordingSession, futures: list[Future[EpisodeResult]]) -> None:
        self.session, self.futures = session, futures
        session.forget_held()   # commands held in another bag are not this recording's
        with self.open() as source:
            if source.missing:
                self.report.notes.append(f'{self.path}: no messages on {", ".join(source.missing)}')
            self.tasks = self._task_messages(source)
            if self.marker_topic is None:
                self._start(source.start_ns)
            marker_type = source.types.get(self.marker_topic)
            for topic, log_ns, msg in tqdm(source.messages(), total=source.message_count, unit='msg',
                                           desc=self.path.name, disable=not self.progress, file=sys.stderr):
                self.report.messages += 1
                if self.stop_due is not None and log_ns >= self.stop_due:
                    self._finish_stop()
                if topic == self.marker_topic:
                    self._marker(marker_action(marker_type, msg), log_ns)
                elif topic in self.data_topics:
                    session.push(topic, msg, log_ns)
                    session.poll()
            if self.stop_due is not None:
                self._finish_stop()
            if session.recording:   # episodes never span bags
                futures.append(session.stop_episode())

    def _finish_stop(self) -> None:
        self.futures.append(self.session.stop_episode())
        self.stop_due = None

    def _task_messages(self, source: BagSource) -> list[tuple[int, str]]:
        if self.task_topic is None or self.task_topic not in source.types:
            return []
        tasks = []
        for _, log_ns, msg in source.messages((self.task_topic,)):
            try:
                tasks.append((log_ns, task_text(msg)))
            except ExtractionError:
                self.report.notes.append(f'{self.path}: empty task message at {log_ns} ns ignored')
        return tasks

    def _task_at(self, start_ns: int) -> str | None:
        """The latest task logged at or before ``start_ns``, else the first one after it."""
        if self.task:
            return self.task
        if not self.tasks:
            return None
        i = bisect.bisect_right([ns for ns, _ in self.tasks], start_ns)
        return self.tasks[i - 1][1] if i else self.tasks[0][1]

    def _start(self, log_ns: int) -> None:
        try:
            self.session.start_episode(self._task_at(log_ns) or '', log_ns)
        except RecordingError as exc:
            self.report.notes.append(f'{self.path}: episode starting at {log_ns} ns not recorded: {exc}')

    def _marker(self, action: MarkerAction | None, log_ns: int) -> None:
        """Like the recorder's services: a stop takes the messages stamped before it that are logged
        within `latency` after it; a start or discard ends a recording episode at once."""
        if action is None:
            self.report.ignored_markers += 1
            return
        if self.stop_due is not None:
            self._finish_stop()
        if not self.session.recording:
            if action is not MarkerAction.START:
                self.report.ignored_markers += 1
        elif action is MarkerAction.DISCARD:
            self.futures.append(self.session.discard_episode())
        elif action is MarkerAction.STOP:
            self.session.request_stop(log_ns)
            self.stop_due = log_ns + self.session.latency_ns
        else:   # a start while recording
            self._finish_stop()
        if action is MarkerAction.START:
            self._start(log_ns)


class ConvertVerb:
    help = 'Convert rosbag2 bags (mcap or sqlite3) into a LeRobot v3.0 dataset, without ROS.'

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('bags', nargs='+', metavar='BAG', help='rosbag2 bag directories, converted in this order')
        parser.add_argument('--features', required=True,
                            help='feature map: a config/features name (so101_sim) or a YAML path')
        parser.add_argument('--out', required=True, help='dataset root; an existing dataset is resumed')
        parser.add_argument('--repo-id', default=None, help='dataset repo id (default: local/<name of --out>)')
        parser.add_argument('--task', default=None, help='task of every episode (default: the task topic)')
        parser.add_argument('--episode-marker-topic', default=None, metavar='TOPIC',
                            help='split episodes at std_msgs/Bool (true=start, false=stop) or std_msgs/String '
                                 '(start|stop|discard) markers; default: one episode per bag')
        parser.add_argument('--timeline', choices=TIMELINES, default='',
                            help="align on header stamps or log time, overriding the feature map's timeline")
        parser.add_argument('--fps', type=int, default=0, help="dataset rate (default: the feature map's)")
        parser.add_argument('--namespace', default='/', help='namespace the relative topics of the map live in')
        parser.add_argument('--robot-type', default=None, help="info.json robot_type (default: the feature map's)")
        parser.add_argument('--video-codec', choices=('libsvtav1', 'libx264'), default='libsvtav1',
                            help='encoder of new datasets')
        parser.add_argument('--video-files-size-in-mb', type=float, default=200.0,
                            help='start a new video file when one would pass this size')
        parser.add_argument('--quiet', action='store_true', help='no progress bar')

    def main(self, args: argparse.Namespace) -> int:
        try:
            features = load_features(args.features, fps=args.fps, timeline=args.timeline)
            settings = DatasetSettings(
                root=Path(args.out), repo_id=args.repo_id or f'local/{Path(args.out).resolve().name}',
                robot_type=args.robot_type, video=VideoEncoderConfig(codec=args.video_codec),
                video_files_size_in_mb=args.video_files_size_in_mb)
            report = convert(args.bags, features, settings, task=args.task, marker_topic=args.episode_marker_topic,
                             namespace=args.namespace, progress=not args.quiet)
        except (FeatureMapError, BagError, RecordingError, DatasetError, DatasetLockedError, ValueError) as exc:
            print(f'dojo convert: {exc}', file=sys.stderr)
            return 1
        for note in report.notes:
            print(note)
        for result in report.episodes:
            print(result.message())
        if report.ignored_markers:
            print(f'{report.ignored_markers} marker(s) ignored (unknown value, or stop with nothing recording)')
        saved = report.saved
        print(f'{args.out}: {len(saved)} episode(s), {sum(r.frames for r in saved)} frames from '
              f'{report.messages} messages in {len(args.bags)} bag(s)')
        failed = [result for result in report.episodes if result.error is not None]
        return 0 if saved and not failed else 1
