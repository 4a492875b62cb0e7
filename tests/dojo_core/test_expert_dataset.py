"""record_expert_dataset: scripted-expert episodes from the SimCell, without ROS, written as a LeRobot
dataset with exactly the features (names, shapes, units) a ROS recording of the same feature map has.

Cameras are shrunk (64x48 front, 32x24 wrist) and the expert sped up to keep the recording to seconds;
the state-only map (so101_sim_state.yaml: joints and the cube pose) records without rendering at all.
"""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from dojo_core.dataset import LeRobotDatasetReader, validate
from dojo_core.dataset.format import DEFAULT_FEATURES, DOJO_INFO_KEY
from dojo_core.cell_features import CellFeatures
from dojo_core.expert import run_episode
from dojo_core.expert.dataset import record_expert_dataset
from dojo_core.policies import FeatureType, PolicyFeature, dataset_features
from dojo_core.policies.features import ENV_STATE_KEY, STATE_KEY
from dojo_core.robot.description import JOINT_NAMES
from dojo_core.sim import TASKS, SimCell, SimConfig
from dojo_core.sync import FeatureMap
from dojo_core.sync.feature_spec import POSE_NAMES
from expert_data import FAST_EXPERT, FEATURES_DIR, SMALL_CAMERAS, small_map

STATE_MAP = FEATURES_DIR / 'so101_sim_state.yaml'


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp('expert') / 'dataset'
    summary = record_expert_dataset(root, 2, seed=3, feature_map=small_map(), expert_config=FAST_EXPERT)
    return root, summary


@pytest.mark.slow
def test_the_dataset_is_valid_and_has_the_feature_map_features(recorded):
    root, summary = recorded
    assert [(e.episode_index, e.seed) for e in summary.saved] == [(0, 3), (1, 4)] and not summary.failed
    assert validate(root) == []
    reader = LeRobotDatasetReader(root)
    assert reader.num_episodes == 2 and reader.num_frames == summary.frames
    assert reader.fps == 30 and reader.info['robot_type'] == 'so101_follower'
    assert reader.info[DOJO_INFO_KEY]['units'] == 'radians'
    written = {k: {'dtype': f['dtype'], 'shape': f['shape'], 'names': f['names']}
               for k, f in reader.features.items() if k not in DEFAULT_FEATURES}
    assert written == small_map().lerobot_features()
    assert list(written) == list(small_map().lerobot_features())  # same column order too
    assert {reader.task(i) for i in range(reader.num_frames)} == {TASKS['pick_place']}
    for episode, saved in zip(reader.episodes, summary.saved):
        assert episode.length == saved.frames == pytest.approx(saved.duration_s * 30, abs=1e-6)


@pytest.mark.slow
def test_state_is_measured_action_is_the_clamped_command_of_the_same_tick(recorded):
    """Replaying the seed of episode 1 without rendering gives exactly its state and action columns,
    and the first camera frame is the cell's view after the reset (up to video compression)."""
    root, summary = recorded
    cell = SimCell(CellFeatures.from_feature_map(small_map()).sim_config())
    states, actions = [], []

    def on_step(cell, targets):
        states.append(cell.observation(render=False).joint_positions)
        actions.append(cell.limits.clamp(targets))

    run_episode(cell, summary.saved[1].seed, FAST_EXPERT, on_step=on_step)
    reader = LeRobotDatasetReader(root)
    frames = list(reader.episodes[1].frames)
    np.testing.assert_array_equal(reader.column('observation.state')[frames], np.float32(states))
    np.testing.assert_array_equal(reader.column('action')[frames], np.float32(actions))
    assert np.all(reader.column('action') >= np.float32(cell.limits.lower))
    assert np.all(reader.column('action') <= np.float32(cell.limits.upper))

    cell.reset(summary.saved[1].seed)
    for key, (height, width) in SMALL_CAMERAS.items():
        decoded = reader.read(key, [frames[0]])[0]
        rendered = cell.render(key.rsplit('.', 1)[1])
        assert decoded.shape == rendered.shape == (height, width, 3)
        assert np.abs(decoded.astype(int) - rendered).mean() < 16  # seen: 5-10 at this size
    cell.close()


@pytest.mark.slow
def test_failed_episodes_are_discarded_and_reported_and_a_dataset_is_resumed(recorded, tmp_path):
    """An expert that never closes the gripper fails; its frames never reach the dataset it appends to."""
    root = tmp_path / 'dataset'
    shutil.copytree(recorded[0], root)
    never_grips = dataclasses.replace(FAST_EXPERT, gripper_closed=1.2)
    summary = record_expert_dataset(root, 1, seed=10, feature_map=small_map(), expert_config=never_grips,
                                    max_attempts=1)
    assert summary.saved == [] and [f.seed for f in summary.failed] == [10]
    assert 'not placed' in summary.failed[0].reason and 'seed 10 discarded' in str(summary)
    assert any('resuming' in note for note in summary.notes)
    assert LeRobotDatasetReader(root).num_episodes == 2 and validate(root) == []


def test_degrees_map_stores_lerobot_units_and_actions_map_back_to_radians():
    fmap = small_map('so101_sim_lerobot_units')
    features = CellFeatures.from_feature_map(fmap)
    cell = SimCell(features.sim_config())
    cell.reset(0)
    targets = cell.limits.clamp(np.array([0.3, -1.0, 1.2, 0.4, -0.2, 1.0]))
    frame = features.frame(cell, targets)
    assert set(frame) == set(fmap.features)
    state_units = fmap.features['observation.state'].joint_units
    np.testing.assert_allclose(frame['observation.state'],
                               state_units.to_dataset(cell.observation(render=False).joint_positions), rtol=1e-6)
    assert frame['action'][-1] == pytest.approx(100 * (1.0 + 0.174533) / (1.74533 + 0.174533), rel=1e-4)
    np.testing.assert_allclose(features.targets(frame['action'], np.zeros(6)), targets, atol=1e-5)
    assert frame['observation.images.front'].shape == (48, 64, 3)
    cell.close()


def test_features_the_cell_cannot_provide_and_camera_size_mismatches_are_refused(tmp_path):
    success = {'topic': 'sim/success', 'type': 'std_msgs/msg/Bool', 'timeline': 'receive'}
    with pytest.raises(ValueError, match="'done'.*no source.*it provides .*sim/object_pose"):
        record_expert_dataset(tmp_path / 'a', 1, feature_map=small_map(done=success))
    world_pose = {'topic': 'sim/object_pose', 'type': 'geometry_msgs/msg/PoseStamped', 'frame_id': 'world'}
    with pytest.raises(ValueError, match="'cube': the cell gives the cube pose in base_link, not in world"):
        record_expert_dataset(tmp_path / 'a', 1, feature_map=small_map(cube=world_pose))
    with pytest.raises(ValueError, match='64x48 but the cell renders front at 640x480'):
        record_expert_dataset(tmp_path / 'b', 1, feature_map=small_map(), sim_config=SimConfig())
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()


# --- the state-only map: joints and the cube pose, no cameras ----------------------------------------

@pytest.fixture
def no_rendering(monkeypatch):
    """Fail on any render: a map without cameras must cost no rendering."""
    def render(cell, camera):
        raise AssertionError(f'rendered {camera} for features without cameras')
    monkeypatch.setattr(SimCell, 'render', render)


def test_the_pose_feature_is_the_cube_pose_as_sim_object_pose_carries_it(no_rendering):
    """x, y, z, qx, qy, qz, qw (POSE_NAMES, as FeatureSpec reads a PoseStamped) from the cell's w-first quaternion."""
    features = CellFeatures.from_feature_map(FeatureMap.from_yaml(STATE_MAP))
    cell = SimCell(features.sim_config())
    cell.reset(5)
    (x, y, z), (qw, qx, qy, qz) = cell.object_pose()
    frame = features.observation(cell)
    assert set(frame) == {STATE_KEY, ENV_STATE_KEY}
    assert frame[ENV_STATE_KEY].dtype == np.float32
    np.testing.assert_array_equal(frame[ENV_STATE_KEY], np.float32([x, y, z, qx, qy, qz, qw]))
    assert qz != 0.0 and z == pytest.approx(cell.config.cube_size / 2)  # a yawed cube on the floor

    tilted_wxyz = np.array([0.9, 0.1, -0.2, 0.3])
    cell.set_object_pose([0.2, -0.03, 0.05], tilted_wxyz)
    unit = tilted_wxyz / np.linalg.norm(tilted_wxyz)
    np.testing.assert_allclose(features.observation(cell)[ENV_STATE_KEY], [0.2, -0.03, 0.05, *unit[1:], unit[0]],
                               rtol=1e-6)
    cell.close()


def test_the_state_map_records_the_cube_pose_without_cameras(tmp_path, no_rendering):
    """The dataset of the state-only sanity rows: an ENV input for the policies, in the stats, from the spawn
    pose. Nothing is rendered or encoded, so two episodes take well under a second."""
    root = tmp_path / 'state'
    summary = record_expert_dataset(root, 2, seed=3, feature_map=STATE_MAP, expert_config=FAST_EXPERT)
    assert [e.seed for e in summary.saved] == [3, 4] and validate(root) == []
    reader = LeRobotDatasetReader(root)
    written = {k: (f['dtype'], f['shape'], f['names']) for k, f in reader.features.items() if k not in DEFAULT_FEATURES}
    assert written == {STATE_KEY: ('float32', [6], [f'{j}.pos' for j in JOINT_NAMES]),
                       'action': ('float32', [6], [f'{j}.pos' for j in JOINT_NAMES]),
                       ENV_STATE_KEY: ('float32', [7], list(POSE_NAMES))}
    inputs, _ = dataset_features(reader.info['features'])
    assert inputs[ENV_STATE_KEY] == PolicyFeature(FeatureType.ENV, (7,), POSE_NAMES) and len(inputs) == 2

    poses = reader.column(ENV_STATE_KEY)
    cell = SimCell()
    for episode, saved in zip(reader.episodes, summary.saved):
        cell.reset(saved.seed)
        np.testing.assert_array_equal(poses[episode.frames[0], :2], np.float32(cell.object_pose()[0][:2]))
    cell.close()
    np.testing.assert_allclose(reader.stats[ENV_STATE_KEY]['mean'], poses.astype(np.float64).mean(axis=0),
                               rtol=1e-5, atol=1e-7)
    assert reader.stats[ENV_STATE_KEY]['max'][2] > 0.04  # the cube was lifted (0.0125 m at rest)
