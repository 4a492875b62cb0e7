"""kill -9 while recording: every saved episode stays readable, before and after repair.

A recorder process (dataset_kill_child.py) records deterministic episodes into one dataset and
is SIGKILLed at many instants: while creating the dataset, mid-episode, at every atomic step of
saving an episode, inside the repair that opening runs, and at random wall-clock times. After each kill the dataset is
read the way LeRobot reads it, without repairing anything (info.json's episode count, rows by
position over all data files, frames decoded at from_timestamp + timestamp within 1e-4 s); then
repaired, validated, and checked to hold exactly the saved episodes; the next recorder resumes.
"""
from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dojo_core.dataset import DatasetWriter, repair, validate

pytestmark = pytest.mark.slow  # writer subprocesses killed at random instants

CHILD_PATH = Path(__file__).with_name('dataset_kill_child.py')
_spec = importlib.util.spec_from_file_location('dataset_kill_child', CHILD_PATH)
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)

MIN_PSNR_DB = 35.0
LEROBOT_TOLERANCE_S = 1e-4


class Recorder:
    """The recorder server: one scenario at a time, returns its events."""

    def __init__(self, root: Path):
        self.process = subprocess.Popen([sys.executable, str(CHILD_PATH), str(root)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, **scenario) -> list[dict]:
        self.process.stdin.write(json.dumps(scenario) + '\n')
        self.process.stdin.flush()
        events = []
        while not events or events[-1]['event'] != 'exit':
            line = self.process.stdout.readline()
            assert line, f'recorder server died during {scenario}'
            events.append(json.loads(line))
        fatal = [e for e in events if e['event'] == 'fatal']
        assert not fatal, f'{scenario}: {fatal}'
        return events

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def recorder(tmp_path):
    server = Recorder(tmp_path / 'ds')
    yield server
    server.close()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def decode_by_time(path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """Presentation times (s, ascending) and images of every frame of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sorted(container.decode(stream), key=lambda f: f.pts)
        return (np.array([float(f.pts * stream.time_base) for f in frames]),
                [f.to_ndarray(format='rgb24') for f in frames])


def read_like_lerobot(root: Path, first: int = 0) -> int:
    """Check the episodes info.json counts (from `first` on), read as LeRobot reads them; returns the count."""
    info = json.loads((root / 'meta/info.json').read_text())
    n = info['total_episodes']
    if n == 0:
        return 0
    episodes = pd.concat([pd.read_parquet(p) for p in sorted((root / 'meta/episodes').glob('*/*.parquet'))],
                         ignore_index=True)
    data = pa.concat_tables([pq.read_table(p) for p in sorted((root / 'data').glob('*/*.parquet'))])
    assert len(episodes) >= n and data.num_rows >= info['total_frames']
    videos: dict[Path, tuple[np.ndarray, list[np.ndarray]]] = {}
    for e in range(first, n):
        ep = episodes.iloc[e]
        rows = data.slice(ep['dataset_from_index'], ep['length']).to_pydict()
        assert rows['episode_index'] == [e] * child.length(e) and rows['frame_index'] == list(range(child.length(e)))
        np.testing.assert_array_equal(np.array(rows['observation.state'], np.float32),
                                      [child.state(e, f) for f in range(child.length(e))])
        for camera in child.CAMERAS:
            prefix = f'videos/{camera}/'
            path = root / info['video_path'].format(video_key=camera, chunk_index=ep[prefix + 'chunk_index'],
                                                    file_index=ep[prefix + 'file_index'])
            if path not in videos:
                videos[path] = decode_by_time(path)
            times, images = videos[path]
            for f, timestamp in enumerate(rows['timestamp']):
                query = ep[prefix + 'from_timestamp'] + timestamp
                nearest = int(np.abs(times - query).argmin())
                assert abs(times[nearest] - query) <= LEROBOT_TOLERANCE_S, f'episode {e} {camera} frame {f}: none at {query} s'
                assert psnr(images[nearest], child.image(camera, e, f)) >= MIN_PSNR_DB
    return n


def check_after_crash(root: Path, events: list[dict], known_saved: int) -> int:
    """The crash invariants; returns the number of saved episodes after repair."""
    reported = max([known_saved] + [e['episode'] + 1 for e in events if e['event'] == 'saved'])
    # Before any repair: whatever info.json counts is fully readable, and nothing reported saved is lost.
    counted = read_like_lerobot(root)
    assert counted >= reported  # save_episode returns after info.json is written
    repair(root)
    assert validate(root) == []
    episodes = read_like_lerobot(root, first=counted)  # repair may add the one committed before info.json
    assert reported <= episodes <= reported + 1, (events, episodes)
    return episodes


def test_kill_9_at_any_instant_keeps_every_saved_episode(recorder, tmp_path):
    root = tmp_path / 'ds'
    rng = np.random.default_rng(7)
    scenarios = [{'kill_after_frames': 4}]  # in the first episode: an empty dataset
    # Each save is 6 replacements (7 with a new task): a process's first save starts new files, its
    # second appends to them (stream-copy join), so 1..13 hits every step of both kinds of save.
    scenarios += [{'episodes': 3, 'kill_at_replace': k} for k in range(1, 14)]
    scenarios += [{'episodes': 3, 'kill_after_frames': int(rng.integers(1, 25))} for _ in range(2)]
    scenarios += [{'episodes': 3, 'kill_after_s': float(rng.uniform(0.1, 0.6))} for _ in range(2)]
    for step in (1, 2):  # killed while creating the dataset (tasks.parquet, info.json): no dataset yet
        events = recorder.run(kill_in_open=step)
        assert events[-1]['signal'] == signal.SIGKILL and not (root / 'meta/info.json').exists()
    saved = 0
    kills = 0
    for scenario in scenarios:
        events = recorder.run(**scenario)
        kills += events[-1]['signal'] == signal.SIGKILL
        saved = check_after_crash(root, events, saved)
    assert kills >= len(scenarios) - 2  # only the timed kills may come after the recorder finished

    # A kill inside the repair itself: leave appended-but-uncommitted rows and frames (killed after
    # the second save of a process replaced the data and front video files), then kill the repair
    # at each of its replacements; the repair that finally completes restores the saved state.
    events = recorder.run(episodes=2, kill_at_replace=9)
    assert events[-1]['signal'] == signal.SIGKILL and read_like_lerobot(root) >= saved
    for step in (1, 2):
        events = recorder.run(kill_in_open=step)
        assert events[-1]['signal'] == signal.SIGKILL, f'repair step {step} was not reached: {events}'
        assert read_like_lerobot(root) >= saved
    events = recorder.run(episodes=1)
    opened = next(e for e in events if e['event'] == 'opened')
    assert any('frames of an unsaved episode' in a for a in opened['repaired'])
    assert [e['event'] for e in events][-3:] == ['saved', 'closed', 'exit']
    assert validate(root) == []
    assert read_like_lerobot(root) == opened['episodes'] + 1 >= saved + 1


def test_a_full_disk_fails_loudly_and_keeps_the_saved_episodes(recorder, tmp_path):
    root = tmp_path / 'ds'
    events = recorder.run(episodes=8, fsize_limit=48_000)
    errors = [e for e in events if e['event'] == 'error']
    assert errors and 'too large' in errors[0]['message'].lower(), events
    saved = [e['episode'] for e in events if e['event'] == 'saved']
    assert saved == list(range(len(saved))) and errors[0]['episodes'] == len(saved)
    with DatasetWriter.open(root) as writer:
        assert writer.num_episodes == len(saved)
    assert validate(root) == []
    assert read_like_lerobot(root) == len(saved)
