"""Policies: the shared interface, normalisation, chunk execution helpers, training contract and registry.

    from dojo_core.policies import load_policy
    policy = load_policy('outputs/train/checkpoints/last/pretrained_model')
    policy.reset()
    action = policy.select_action({'observation.state': q, 'observation.images.front': rgb_uint8_hwc})

Policy types (ACT in dojo_core.policies.act, and any a package adds) are found by name through the
`dojo.policies` entry-point group and imported only when used (registry.py), so this package
names none of them.
"""
from dojo_core.policies.base import MODEL_NAME, Policy, load_policy, make_policy
from dojo_core.policies.config import CONFIG_NAME, PolicyConfig
from dojo_core.policies.execution import ActionQueue, TemporalEnsembler, merge_chunks, skip_stale, stale_steps
from dojo_core.policies.features import FeatureType, PolicyFeature, dataset_features
from dojo_core.policies.normalize import NormMode, Normalizer
from dojo_core.policies.preprocessing import ImagePreprocessing
from dojo_core.policies.registry import ENTRY_POINT_GROUP, policy_class, policy_types
from dojo_core.policies.trainable import Trainable, TrainingPreset

__all__ = [
    'ActionQueue', 'CONFIG_NAME', 'ENTRY_POINT_GROUP', 'FeatureType', 'ImagePreprocessing', 'MODEL_NAME', 'NormMode',
    'Normalizer', 'Policy', 'PolicyConfig', 'PolicyFeature', 'TemporalEnsembler', 'Trainable', 'TrainingPreset',
    'dataset_features', 'load_policy', 'make_policy', 'merge_chunks', 'policy_class', 'policy_types', 'skip_stale',
    'stale_steps',
]
