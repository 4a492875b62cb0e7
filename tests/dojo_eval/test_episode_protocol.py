"""The episode protocol's numbers live in dojo_core.sim.protocol; every episode runner starts from them.

The expert (node, its parameter file and the ROS-free episodes), `dojo eval` (the CLI, the ROS-free
rollouts and `dojo demo`'s full budget) must agree: an expert recorded with one settle time and
judged with another, or a policy given another time limit through ROS than without it, would make
their success rates incomparable.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from dojo_core.evaluation import RolloutConfig
from dojo_core.sim.protocol import SETTLE_TIME_S, TIME_LIMIT_S, fresh_messages
from dojo_eval import demo, evaluate
from dojo_ros import episode
from dojo_ros.qos import SENSOR_QOS
from dojo_sim import pick_place_expert

REPO = Path(__file__).resolve().parents[2]


def test_fresh_messages_outnumber_what_a_queue_can_still_hold_from_before_the_reset():
    assert fresh_messages(1) == 3 and fresh_messages(SENSOR_QOS.depth) == SENSOR_QOS.depth + 2
    with pytest.raises(ValueError, match='depth'):
        fresh_messages(0)


def test_the_expert_and_dojo_eval_wait_for_fresh_observations_through_the_one_episode_driver():
    assert episode.FRESH_MESSAGES == fresh_messages(SENSOR_QOS.depth)
    assert pick_place_expert.EpisodeDriver is evaluate.EpisodeDriver is episode.EpisodeDriver


def test_the_expert_settles_for_the_protocol_time_everywhere():
    assert pick_place_expert.ExpertNodeConfig().settle_time == SETTLE_TIME_S
    config = yaml.safe_load((REPO / 'config' / 'expert.yaml').read_text())
    assert config['/**/pick_place_expert']['ros__parameters']['settle_time'] == SETTLE_TIME_S


def test_policy_episodes_have_the_protocol_time_limit_with_and_without_ros():
    parser = argparse.ArgumentParser()
    evaluate.EvalVerb().add_arguments(parser)
    assert parser.parse_args(['--policy', 'x']).time_limit == TIME_LIMIT_S
    assert RolloutConfig().time_limit_s == TIME_LIMIT_S
    assert demo.FULL.time_limit == TIME_LIMIT_S
