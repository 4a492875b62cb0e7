"""Scripted experts (ROS-free): plans a ROS node can play, and a SimCell driver for data generation."""
from dojo_core.expert.episode import EpisodeResult, run_episode
from dojo_core.expert.pick_place import ExpertConfig, PickPlaceExpert

__all__ = ['EpisodeResult', 'ExpertConfig', 'PickPlaceExpert', 'run_episode']
