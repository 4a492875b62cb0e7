"""The policy node's logic without ROS: feature binding, late-chunk execution, the control step.

The control step is driven tick by tick with chosen node-clock times and real sensor messages, so
the asynchronous rules (stale actions skipped, holds, clamps) are checked exactly.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from dojo_core.policies import FeatureType, PolicyFeature, TemporalEnsembler, load_policy
from dojo_core.policies.act import ACTConfig
from dojo_core.robot import JOINT_NAMES, expand_xacro, joint_limits
from dojo_core.sync import FeatureMap, FeatureMapError
from dojo_core.serving import NON_FINITE, WAITING, PolicyController, ServingConfig
from dojo_core.policies.execution import EnsembleExecution, QueueExecution
from dojo_core.serving import bind_features
from dojo_ros.image import numpy_to_image
from dojo_ros.joint_state import vector_to_joint_state

pytestmark = pytest.mark.usefixtures('torch_one_thread')

PERIOD_NS = 1_000_000_000 // 30
LIMITS = joint_limits(expand_xacro())


# Feature binding ---------------------------------------------------------------------------------

def test_binding_lists_every_mismatch(policy_files):
    policy = load_policy(policy_files['random'])
    features = FeatureMap.from_yaml(policy_files['small_map'])
    binding = bind_features(policy.config, features)
    assert binding.joints == JOINT_NAMES and binding.measured.name == 'observation.state'
    assert set(binding.observed) == {'observation.state', 'observation.images.front', 'observation.images.wrist'}

    config = ACTConfig.tiny(input_features={
        **policy.config.input_features,
        'observation.images.top': PolicyFeature(FeatureType.VISUAL, (3, 48, 64)),
        'observation.state': PolicyFeature(FeatureType.STATE, (6,), tuple(f'{j}.vel' for j in JOINT_NAMES)),
    }, output_features={'action': PolicyFeature(FeatureType.ACTION, (5,))})
    with pytest.raises(FeatureMapError) as error:
        bind_features(config, FeatureMap.from_yaml(policy_files['wide_map']), 'wide.yaml')
    text = str(error.value)
    assert 'the policy and wide.yaml do not match' in text
    assert 'observation.images.top: the policy reads it, the feature map has no such feature' in text
    assert 'the policy expects shape (3, 48, 64), the map gives (3, 48, 80)' in text
    assert "shoulder_pan.vel" in text and 'action: the policy outputs shape (5,)' in text


# Executing late chunks ---------------------------------------------------------------------------

def test_ensemble_of_on_time_chunks_is_acts_temporal_ensemble():
    rng = np.random.default_rng(0)
    chunks = rng.normal(size=(12, 5, 2))
    reference, late_capable = TemporalEnsembler(5, 0.1), EnsembleExecution(0.1)
    for step, chunk in enumerate(chunks):
        assert late_capable.add(chunk, step, step) == 0
        np.testing.assert_allclose(late_capable.action(step), reference.update(chunk), rtol=1e-12)


def test_ensemble_places_late_chunks_at_their_steps_and_skips_missed_steps():
    execution = EnsembleExecution(0.0)           # coeff 0: a plain mean of the predictions of a step
    a, b = np.arange(6.0)[:, None], 10 + np.arange(6.0)[:, None]
    assert execution.add(a, obs_step=0, step=2) == 2       # a[k] is for step k: a[0], a[1] are stale
    assert execution.add(b, obs_step=1, step=2) == 1       # b[k] is for step 1 + k
    assert execution.action(2)[0] == pytest.approx((a[2, 0] + b[1, 0]) / 2)
    assert execution.action(5)[0] == pytest.approx((a[5, 0] + b[4, 0]) / 2)   # steps 3, 4 missed: dropped
    assert execution.action(6)[0] == b[5, 0]
    assert execution.action(7) is None


def test_queue_merges_a_late_chunk_and_refills_before_running_dry():
    execution = QueueExecution(n_action_steps=6)
    assert execution.wants_chunk(0, threshold=2) and execution.action(0) is None
    chunk = np.arange(10.0)[:, None]
    assert execution.add(chunk, obs_step=0, step=3) == 3    # chunk[:6], three of them already due
    assert [execution.action(s)[0] for s in (3, 4)] == [3.0, 4.0]
    assert execution.wants_chunk(5, threshold=1)            # one action left
    assert execution.action(7) is None                      # step 5's action dropped at 7: nothing left


# The control step --------------------------------------------------------------------------------

def stamp(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


class Cell:
    """Messages of the small feature map's topics, stamped on demand."""

    def __init__(self, controller: PolicyController) -> None:
        self.controller = controller
        self.position = np.array([0.0, -0.6, 0.6, 1.1, 0.0, 0.3])
        self.image = np.zeros((48, 64, 3), dtype=np.uint8)

    def publish(self, t_ns: int, cameras=('front', 'wrist')) -> None:
        push = self.controller.observations.push
        assert not push('joint_states', vector_to_joint_state(JOINT_NAMES, self.position, stamp=stamp(t_ns)), t_ns)
        for camera in cameras:
            assert not push(f'cameras/{camera}/image_raw', numpy_to_image(self.image, 'rgb8', stamp=stamp(t_ns)), t_ns)


def make_controller(policy_files, checkpoint: str, max_step: float = 0.25) -> tuple[PolicyController, Cell]:
    policy = load_policy(policy_files[checkpoint])
    binding = bind_features(policy.config, FeatureMap.from_yaml(policy_files['small_map']))
    config = ServingConfig(control_rate_hz=30.0, n_action_steps=10, max_obs_age=0.1, max_step_rad=max_step)
    controller = PolicyController(policy, binding, config, LIMITS)
    return controller, Cell(controller)


def tick_after_inference(controller: PolicyController, t_ns: int):
    """Let the inference in flight finish, then tick (a deterministic stand-in for a slow model)."""
    deadline = time.monotonic() + 30
    while controller.worker.busy and time.monotonic() < deadline:
        time.sleep(0.001)
    return controller.tick(t_ns)


def test_a_chunk_that_arrives_late_runs_from_the_current_step(policy_files):
    controller, cell = make_controller(policy_files, 'random')
    try:
        t0 = 5_000_000_000
        cell.publish(t0)
        first = controller.tick(t0)                               # step 0: inference starts, nothing to run yet
        assert first.hold == WAITING
        np.testing.assert_allclose(first.command, cell.position)  # the hold is where the arm is
        observation, _ = controller.observations.snapshot(t0, 1.0)
        cell.publish(t0 + 2 * PERIOD_NS)
        assert controller.tick(t0 + PERIOD_NS).hold == WAITING    # step 1: the chunk is not taken yet
        tick = tick_after_inference(controller, t0 + 2 * PERIOD_NS)  # step 2: the chunk of step 0 is taken
        assert tick.hold is None
        chunk = controller.policy.predict_chunk(observation)
        target = LIMITS.clamp(controller.binding.action_to_ros(chunk[2]))   # actions 0 and 1 were due already
        np.testing.assert_allclose(tick.command, first.command + np.clip(target - first.command, -0.25, 0.25))
        assert controller.events.snapshot()['stale_actions'] == 2
        assert controller.holds.snapshot() == {WAITING: 2}
    finally:
        controller.close()


def test_stale_observations_hold_and_drop_the_plan(policy_files):
    controller, cell = make_controller(policy_files, 'random')
    try:
        t0 = 1_000_000_000
        cell.publish(t0)
        controller.tick(t0)
        cell.publish(t0 + PERIOD_NS)
        moving = tick_after_inference(controller, t0 + PERIOD_NS)
        assert moving.hold is None
        t = t0 + 5 * PERIOD_NS                                    # the images stop, joint states go on
        cell.publish(t, cameras=())
        held = tick_after_inference(controller, t)
        assert held.hold == 'stale:observation.images.front'
        np.testing.assert_array_equal(held.command, moving.command)
        cell.publish(t + PERIOD_NS)
        assert tick_after_inference(controller, t + PERIOD_NS).hold == WAITING   # a new plan from fresh data
        assert controller.events.snapshot()['missed_steps'] == 3
    finally:
        controller.close()


def test_nan_output_holds_and_out_of_range_output_is_clamped(policy_files):
    controller, cell = make_controller(policy_files, 'nan')
    try:
        cell.publish(1)
        start = controller.tick(1).command
        for step in range(1, 4):
            cell.publish(1 + step * PERIOD_NS)
            tick = tick_after_inference(controller, 1 + step * PERIOD_NS)
            np.testing.assert_array_equal(tick.command, start)
            assert tick.hold in (NON_FINITE, WAITING)
        assert controller.holds.snapshot()[NON_FINITE] >= 1 and controller.commands == 0
    finally:
        controller.close()
    controller, cell = make_controller(policy_files, 'out_of_range', max_step=0.5)
    try:
        commands = []
        for step in range(12):
            cell.publish(1 + step * PERIOD_NS)
            tick = tick_after_inference(controller, 1 + step * PERIOD_NS)
            commands.append(tick.command)
        commands = np.asarray(commands)
        assert np.all(commands >= LIMITS.lower - 1e-12) and np.all(commands <= LIMITS.upper + 1e-12)
        assert np.abs(np.diff(commands, axis=0)).max() <= 0.5 + 1e-12
        assert commands[-1][0] == pytest.approx(LIMITS.upper[0]) and commands[-1][1] == pytest.approx(LIMITS.lower[1])
        assert controller.limiter.clamped_joints.snapshot()['shoulder_pan'] >= 1
        assert controller.limiter.step_limited_joints.snapshot()['elbow_flex'] >= 1
    finally:
        controller.close()
