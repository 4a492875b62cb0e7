"""validate(): a valid dataset has no problems, and each kind of damage is named precisely.

One small dataset is recorded with the writer (two data files, one camera, two tasks); every
test copies it, breaks one invariant the way a buggy writer or a bad edit would, and checks that
validate() and `dojo dataset validate` report that exact problem. The lerobot-written fixture
(tests/data/lerobot_v30) must validate too.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dojo_core.cli import main as dojo_main
from dojo_core.dataset import DatasetWriter, validate
from dojo_core.dataset.format import vector_feature, video_feature
from dojo_core.dataset.video_encoder import Piece, concatenate

FPS = 30
CAM = 'observation.images.front'
DATA0 = 'data/chunk-000/file-000.parquet'
DATA1 = 'data/chunk-000/file-001.parquet'
EPISODES = 'meta/episodes/chunk-000/file-000.parquet'
VIDEO = f'videos/{CAM}/chunk-000/file-000.mp4'
LEROBOT_FIXTURE = Path(__file__).resolve().parents[1] / 'data' / 'lerobot_v30'


@pytest.fixture(scope='module')
def valid_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('valid') / 'ds'
    names = [f'j{i}.pos' for i in range(4)]
    features = {'observation.state': vector_feature(names), 'action': vector_feature(names),
                CAM: video_feature(32, 48)}
    with DatasetWriter.create(root, 'me/valid', FPS, features) as writer:
        for e, n in enumerate((9, 7, 8)):
            for f in range(n):
                value = np.full(4, e * 10 + f, np.float32)
                writer.add_frame({'observation.state': value, 'action': value + 1,
                                  CAM: np.full((32, 48, 3), 40 * e + 3 * f, np.uint8)}, task=('pick', 'place')[e % 2])
            writer.save_episode()
    with DatasetWriter.open(root) as writer:  # resumed: episode 3 goes to the second data file
        for f in range(6):
            writer.add_frame({'observation.state': np.full(4, f, np.float32), 'action': np.zeros(4, np.float32),
                              CAM: np.full((32, 48, 3), 200, np.uint8)}, task='pick')
        writer.save_episode()
    return root


@pytest.fixture
def root(valid_root, tmp_path) -> Path:
    copy = tmp_path / 'ds'
    shutil.copytree(valid_root, copy)
    return copy


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_parquet(path: Path, column: str, change) -> None:
    """Replace one column by change(its values as numpy; (rows, D) for vectors, Python lists for lists)."""
    table = pq.read_table(path)
    values = table.column(column).combine_chunks()
    if pa.types.is_fixed_size_list(values.type):
        new = change(values.flatten().to_numpy().reshape(len(values), -1))
        array = pa.FixedSizeListArray.from_arrays(pa.array(new.ravel(), type=values.type.value_type), new.shape[1])
    else:
        new = change(values.to_pylist() if pa.types.is_list(values.type) else values.to_numpy(zero_copy_only=False))
        array = pa.array(new, type=values.type)
    pq.write_table(table.set_column(table.column_names.index(column), column, array), path)


def shifted(values, at, by):
    values = values.copy()
    values[at:] += by
    return values


def problems_of(root: Path, needle: str) -> list[str]:
    problems = validate(root)
    assert any(needle in p for p in problems), f'expected a problem containing {needle!r}, got {problems}'
    return problems


def test_valid_datasets_have_no_problems(valid_root, capsys):
    assert validate(valid_root) == []
    assert validate(LEROBOT_FIXTURE) == []  # written by lerobot 0.4.4 itself
    assert dojo_main(['dataset', 'validate', str(valid_root)]) == 0
    assert dojo_main(['dataset', 'validate', '--fast', str(LEROBOT_FIXTURE)]) == 0


BREAKAGES = {
    'info_total_frames': (lambda r: edit_json(r / 'meta/info.json', lambda i: i.update(total_frames=31)),
                          'meta/info.json: total_frames is 31 but the episodes hold 30'),
    'info_total_episodes': (lambda r: edit_json(r / 'meta/info.json', lambda i: i.update(total_episodes=5)),
                            'total_episodes is 5 but meta/episodes has 4 rows'),
    'info_version': (lambda r: edit_json(r / 'meta/info.json', lambda i: i.update(codebase_version='v2.1')),
                     "codebase_version is 'v2.1'"),
    'info_splits': (lambda r: edit_json(r / 'meta/info.json', lambda i: i.update(splits={'train': '0:3'})),
                    'splits is'),
    'feature_name': (lambda r: edit_json(r / 'meta/info.json', lambda i: i['features'].update(
        {'obs/extra': {'dtype': 'float32', 'shape': [1], 'names': None}})), 'contains "/"'),
    'index_gap': (lambda r: edit_parquet(r / DATA0, 'index', lambda v: shifted(v, 5, 1)),
                  f'{DATA0}: index at row 5 is 6, expected 5'),
    'timestamp': (lambda r: edit_parquet(r / DATA0, 'timestamp', lambda v: shifted(v, 3, np.float32(0.001))),
                  f'{DATA0}: timestamp at row 3'),
    'frame_index': (lambda r: edit_parquet(r / DATA1, 'frame_index', lambda v: shifted(v, 2, 1)),
                    f'{DATA1}: frame_index at row 2 is 3, expected 2'),
    'task_index': (lambda r: edit_parquet(r / DATA0, 'task_index', lambda v: np.where(np.arange(len(v)) == 4, 1, v)),
                   'episode 0 has task_index [1]'),
    'non_finite': (lambda r: edit_parquet(r / DATA0, 'action', lambda v: np.where(np.arange(len(v))[:, None] == 6,
                                                                                 np.nan, v)),
                   f'{DATA0}: column action has non-finite values (first at row 6)'),
    'episode_range': (lambda r: edit_parquet(r / EPISODES, 'dataset_from_index', lambda v: shifted(v, 1, 1)),
                      'meta/episodes episode 1: dataset_from_index is 10, expected 9'),
    'episode_length': (lambda r: edit_parquet(r / EPISODES, 'length', lambda v: shifted(v, 2, 1)),
                       'meta/episodes episode 2: length 9 does not match'),
    'unknown_task': (lambda r: edit_parquet(r / EPISODES, 'tasks', lambda v: [['pick'], ['fly'], ['pick']]),
                     "tasks ['fly'] are not in meta/tasks.parquet"),
    'from_timestamp': (lambda r: edit_parquet(r / EPISODES, f'videos/{CAM}/from_timestamp',
                                              lambda v: shifted(v, 1, 0.5 / FPS)), 'is not a whole frame'),
    'to_timestamp': (lambda r: edit_parquet(r / EPISODES, f'videos/{CAM}/to_timestamp', lambda v: shifted(v, 2, 1 / FPS)),
                     'to_timestamp 0.8333333333333334 is not from_timestamp + length/fps'),
    'video_missing': (lambda r: (r / VIDEO).unlink(), f'{VIDEO}: missing'),
    'video_short': (lambda r: _rewrite_video(r, [Piece(r / VIDEO, frames=20)]),
                    f'meta/episodes episode 2 {CAM}: needs frames 16..23 of {VIDEO}, which has 20'),
    'video_pts_gap': (lambda r: _rewrite_video(r, [Piece(r / VIDEO, frames=5), Piece(r / VIDEO, offset=6)]),
                      f'{VIDEO}: frame 5 has timestamp 0.2 s, expected 0.16666666666666666 s'),
    'video_orphan': (lambda r: shutil.copy(r / VIDEO, r / f'videos/{CAM}/chunk-000/file-007.mp4'),
                     'file-007.mp4: no episode references this video file'),
    'data_orphan': (lambda r: shutil.copy(r / DATA1, r / 'data/chunk-001/file-000.parquet')
                    if (r / 'data/chunk-001').mkdir() is None else None,
                    'data/chunk-001/file-000.parquet: no episode references this data file'),
    'data_order': (lambda r: shutil.move(r / DATA1, r / 'data/chunk-000/file-000a.parquet'), f'{DATA1}: missing'),
    'data_corrupt': (lambda r: (r / DATA0).write_bytes((r / DATA0).read_bytes()[:-100]), f'{DATA0}: unreadable parquet'),
    'episodes_corrupt': (lambda r: (r / EPISODES).write_bytes(b'PAR1'), f'{EPISODES}: unreadable parquet'),
    'episode_stats': (lambda r: pq.write_table(pq.read_table(r / EPISODES).drop_columns(['stats/action/q50']),
                                               r / EPISODES), 'no per-episode stats column stats/action/q50'),
    'stats_missing': (lambda r: edit_json(r / 'meta/stats.json', lambda s: s['action'].pop('q99')),
                      "meta/stats.json: action: missing ['q99']"),
    'stats_shape': (lambda r: edit_json(r / 'meta/stats.json', lambda s: s[CAM].update(mean=[0.5, 0.5, 0.5])),
                    f'meta/stats.json: {CAM}: shapes'),
    'stats_stale': (lambda r: edit_json(r / 'meta/stats.json', lambda s: s['observation.state'].update(max=[99] * 4)),
                    'meta/stats.json: observation.state: max is [99.0, 99.0, 99.0, 99.0], the data gives'),
    'stats_count': (lambda r: edit_json(r / 'meta/stats.json', lambda s: s['action'].update(count=[3])),
                    'action: count is 3, the dataset has 30 frames'),
    'tasks_index': (lambda r: pq.write_table(pa.table({'task_index': [0, 1]}), r / 'meta/tasks.parquet'),
                    'meta/tasks.parquet: must be indexed by the task strings'),
    'staging': (lambda r: (r / '.dojo_staging').mkdir() or (r / '.dojo_staging/tmp-x.parquet').write_bytes(b''),
                '.dojo_staging: 1 leftover item(s) of an interrupted recording'),
}


def _rewrite_video(root: Path, pieces: list[Piece]) -> None:
    tmp = root / 'rewritten.mp4'
    concatenate(pieces, tmp, FPS)
    tmp.replace(root / VIDEO)


@pytest.mark.parametrize('name', list(BREAKAGES))
def test_each_kind_of_damage_is_reported(root, name, capsys):
    breakage, needle = BREAKAGES[name]
    breakage(root)
    problems_of(root, needle)
    assert dojo_main(['dataset', 'validate', str(root)]) == 1
    err = capsys.readouterr().err
    assert needle in err and 'problem(s)' in err


def test_not_a_dataset(tmp_path):
    assert validate(tmp_path) == [f'{tmp_path}/meta/info.json is missing']
