"""Policies: the shared interface, normalisation, chunk execution helpers, and the policy types.

    from dojo_core.policies import load_policy
    policy = load_policy('outputs/train/checkpoints/last/pretrained_model')
    policy.reset()
    action = policy.select_action({'observation.state': q, 'observation.images.front': rgb_uint8_hwc})

Importing this package registers every built-in policy type (`act`), so `load_policy` and
`make_policy` find them by the `"type"` in config.json.
"""
from dojo_core.policies.act import ACTConfig, ACTPolicy
from dojo_core.policies.base import MODEL_NAME, POLICY_TYPES, Policy, load_policy, make_policy
from dojo_core.policies.config import CONFIG_NAME, PolicyConfig
from dojo_core.policies.execution import ActionQueue, TemporalEnsembler, merge_chunks, skip_stale, stale_steps
from dojo_core.policies.features import FeatureType, PolicyFeature, dataset_features
from dojo_core.policies.normalize import NormMode, Normalizer

__all__ = [
    'ACTConfig', 'ACTPolicy', 'ActionQueue', 'CONFIG_NAME', 'FeatureType', 'MODEL_NAME', 'NormMode', 'Normalizer',
    'POLICY_TYPES', 'Policy', 'PolicyConfig', 'PolicyFeature', 'TemporalEnsembler', 'dataset_features',
    'load_policy', 'make_policy', 'merge_chunks', 'skip_stale', 'stale_steps',
]
