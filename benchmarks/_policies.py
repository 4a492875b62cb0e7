"""What the policy benchmarks share: a randomly initialised policy of any registered type, and its options.

`python benchmarks/<script>.py` puts this folder on sys.path, so the scripts `import _policies`.
A benchmark's policy is a type of the `dojo.policies` entry-point group (`--policy`, default act),
one of its presets (`--preset`; 'paper' also names a type's 'default' where it has no 'paper', as
ACT's defaults are the paper's) and config fields over the preset (`--set key=value`, repeatable,
the value read as JSON, else taken as a string). Weights are random (latency does not depend on
their values) and external pretrained weights are never fetched; the normalisation stats hold
mean/std, min/max and q01/q99 for every feature, so every normalisation mode finds its pair
(ACT normalises vectors MEAN_STD, Diffusion MIN_MAX).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dojo_core.policies import FeatureType, Policy, PolicyConfig, PolicyFeature, policy_class, policy_types
from dojo_core.policies.config import DEFAULT_PRESET
from dojo_core.policies.normalize import IMAGENET_MEAN, IMAGENET_STD

DEFAULT_POLICY = 'act'


def parse_set(text: str) -> tuple[str, Any]:
    """'num_inference_steps=100' -> ('num_inference_steps', 100): the value as JSON, else the string itself."""
    key, sep, value = text.partition('=')
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f'--set takes key=value, e.g. num_inference_steps=100, got {text!r}')
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_policy_arguments(parser: argparse.ArgumentParser, preset_help: str) -> None:
    """--policy TYPE, --preset NAME (default None: the script's choice, see `preset_help`), --set key=value."""
    parser.add_argument('--policy', default=DEFAULT_POLICY, choices=policy_types(),
                        help=f'policy type (a dojo.policies entry point; default {DEFAULT_POLICY})')
    parser.add_argument('--preset', default=None, help=preset_help)
    parser.add_argument('--set', dest='overrides', type=parse_set, action='append', default=[], metavar='KEY=VALUE',
                        help='a config field over the preset (repeatable; the value as JSON, else a string), '
                             'e.g. --set num_inference_steps=100')


def preset_name(policy_type: str, preset: str) -> str:
    """`preset` as the type's config names it ('paper' is 'default' for a type without a 'paper' preset)."""
    presets = policy_class(policy_type).config_class.presets
    return DEFAULT_PRESET if preset == 'paper' and preset not in presets and DEFAULT_PRESET in presets else preset


def policy_config(policy_type: str, preset: str, inputs: Mapping[str, PolicyFeature],
                  outputs: Mapping[str, PolicyFeature], overrides: Mapping[str, Any] | None = None,
                  **fields: Any) -> PolicyConfig:
    """The config of `policy_type`'s `preset` over these features, `fields` then `overrides` set over it."""
    config_class = policy_class(policy_type).config_class
    return config_class.preset(preset_name(policy_type, preset), input_features=dict(inputs),
                               output_features=dict(outputs), **{**fields, **(overrides or {})})


def random_stats(features: Mapping[str, PolicyFeature],
                 vectors: Mapping[str, tuple[Any, Any]] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Stats of every feature for any normalisation mode: cameras ImageNet mean/std in [0, 1]; a vector
    its (mean, std) from `vectors` (default (0, 1)), with min/max (and q01/q99) at mean -+ 2 std."""
    stats: dict[str, dict[str, np.ndarray]] = {}
    for key, feature in features.items():
        if feature.type is FeatureType.VISUAL:
            stats[key] = {'mean': np.array(IMAGENET_MEAN), 'std': np.array(IMAGENET_STD),
                          'min': np.zeros(3), 'max': np.ones(3), 'q01': np.zeros(3), 'q99': np.ones(3)}
            continue
        mean, std = (np.broadcast_to(np.asarray(v, dtype=float), feature.shape)
                     for v in (vectors or {}).get(key, (0.0, 1.0)))
        low, high = mean - 2 * std, mean + 2 * std
        stats[key] = {'mean': mean, 'std': std, 'min': low, 'max': high, 'q01': low, 'q99': high}
    return stats


def random_policy(config: PolicyConfig, vectors: Mapping[str, tuple[Any, Any]] | None = None) -> Policy:
    """A randomly initialised policy of the config's type (no pretrained weights fetched), in eval mode,
    normalising with `random_stats` of its features."""
    stats = random_stats({**config.input_features, **config.output_features}, vectors)
    return policy_class(config.type)(config, stats, load_pretrained_weights=False).eval()


def describe(config: PolicyConfig, preset: str, overrides: Sequence[tuple[str, Any]] | Mapping[str, Any]) -> str:
    """'diffusion cpu {num_inference_steps=100}: chunk 31, n_action_steps 16' (the summary the benchmarks print)."""
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    changed = ', '.join(f'{k}={json.dumps(v)}' for k, v in items)
    return (f'{config.type} {preset}{f" {{{changed}}}" if changed else ""}: '
            f'chunk {config.chunk_size}, n_action_steps {config.n_action_steps}')
