"""Chunk inference latency of any policy type: one observation in, one action chunk out (`Policy.predict_chunk`).

Prints p50/p99 per configuration and asserts nothing:

    python benchmarks/policy_latency.py                      # ACT: cpu and paper presets, 640x480 and 320x240
    python benchmarks/policy_latency.py --policy diffusion   # Diffusion cpu preset at 10 and 100 inference steps
    python benchmarks/policy_latency.py --policy diffusion --preset paper --set num_inference_steps=100

`--policy` is any registered type (default act), `--preset` one of its presets and `--set key=value`
(repeatable, the value as JSON) a config field over it; without `--preset` the type's default cases
run (`--set` then applies over each), on the `--size` camera sizes (default: 640x480 and 320x240 for
ACT, 640x480 otherwise). `--device cuda` on a GPU box. Observations are what the policy node passes:
the joint state and two uint8 (H, W, 3) camera images, with a history axis of `n_obs_steps` in front
of each when the policy reads more than the current frame (Diffusion: 2), so the figures include
moving the images to the device, uint8 -> float, normalisation and resizing, as well as the network
itself (for Diffusion: all `num_inference_steps` denoising steps). Weights are random: latency does
not depend on their values. `benchmarks/policy_loop.py` measures the same policies inside policy_node.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from _policies import add_policy_arguments, describe, policy_config, random_policy
from dojo_core.policies import FeatureType, Policy, PolicyFeature, policy_class

CAMERAS = ('front', 'wrist')
STATE_DIM = 6
#: (preset, config overrides) measured by default, per type; other types: their cpu (else default) preset.
DEFAULT_CASES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    'act': [('cpu', {}), ('paper', {})],
    'diffusion': [('cpu', {'num_inference_steps': 10}), ('cpu', {'num_inference_steps': 100})],
}
#: Camera (height, width) measured by default, per type; other types: 640x480.
DEFAULT_SIZES: dict[str, list[tuple[int, int]]] = {'act': [(480, 640), (240, 320)]}


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' (width x height) -> (480, 640)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--size takes WIDTHxHEIGHT, e.g. 640x480, got {text!r}') from None
    return height, width


def build(policy_type: str, preset: str, overrides: dict[str, Any], height: int, width: int, device: str) -> Policy:
    inputs = {'observation.state': PolicyFeature('STATE', (STATE_DIM,))}
    inputs |= {f'observation.images.{c}': PolicyFeature('VISUAL', (3, height, width)) for c in CAMERAS}
    outputs = {'action': PolicyFeature('ACTION', (STATE_DIM,))}
    return random_policy(policy_config(policy_type, preset, inputs, outputs, overrides)).to(device)


def observation(policy: Policy, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One observation as the policy node passes it: uint8 (H, W, 3) images, float state; each with a
    history axis of `n_obs_steps` in front when the policy reads a history."""
    history = (policy.n_obs_steps,) if policy.n_obs_steps > 1 else ()
    values = {}
    for key, feature in policy.config.input_features.items():
        if feature.type is FeatureType.VISUAL:
            _, height, width = feature.shape
            values[key] = rng.integers(0, 256, (*history, height, width, 3), dtype=np.uint8)
        else:
            values[key] = rng.normal(size=(*history, *feature.shape)).astype(np.float32)
    return values


def measure(policy: Policy, repeats: int, warmup: int) -> np.ndarray:
    obs = observation(policy, np.random.default_rng(0))
    for _ in range(warmup):
        policy.predict_chunk(obs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        policy.predict_chunk(obs)  # returns numpy: includes the device -> host copy (a sync)
        times.append(time.perf_counter() - start)
    return np.array(times) * 1e3


def encoder_tokens(policy: Policy) -> int | None:
    """Transformer encoder tokens (cameras' feature-map cells + latent + state) for a policy with
    `model.image_tokens` (ACT); None for others."""
    image_tokens = getattr(getattr(policy, 'model', None), 'image_tokens', None)
    if image_tokens is None:
        return None
    with torch.no_grad():
        batch, _ = policy.observation_batch({k: torch.zeros(f.shape) for k, f in policy.config.input_features.items()})
        return image_tokens(policy.normalizer.normalize_batch(batch))[0].shape[1] + 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_policy_arguments(parser, preset_help="one of the type's presets (default: the type's default cases, "
                                             'e.g. ACT cpu and paper, Diffusion cpu at 10 and 100 inference steps)')
    parser.add_argument('--size', dest='sizes', type=parse_size, action='append', default=None,
                        metavar='WIDTHxHEIGHT', help='camera size (repeatable; default 640x480 and 320x240 for ACT, '
                                                     '640x480 otherwise)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=30, help='timed calls per configuration')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(args.overrides)
    if args.preset is not None:
        cases = [(args.preset, overrides)]
    else:
        presets = policy_class(args.policy).config_class.presets
        default = [('cpu' if 'cpu' in presets else 'default', {})]
        cases = [(preset, {**fields, **overrides}) for preset, fields in DEFAULT_CASES.get(args.policy, default)]
    sizes = args.sizes or DEFAULT_SIZES.get(args.policy, [(480, 640)])
    print(f'torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} CPU threads, '
          f'{len(CAMERAS)} cameras, uint8 images in, {args.repeats} calls')
    for preset, fields in cases:
        for height, width in sizes:
            policy = build(args.policy, preset, fields, height, width, args.device)
            params = sum(p.numel() for p in policy.parameters()) / 1e6
            tokens = encoder_tokens(policy)
            history = f', {policy.n_obs_steps} frames' if policy.n_obs_steps > 1 else ''
            ms = measure(policy, args.repeats, args.warmup)
            print(f'{describe(policy.config, preset, fields)}; {len(CAMERAS)}x{width}x{height}{history}, '
                  f'{params:5.1f} M params{"" if tokens is None else f", {tokens:4d} encoder tokens"}: '
                  f'p50 {np.percentile(ms, 50):7.1f} ms  p99 {np.percentile(ms, 99):7.1f} ms  (min {ms.min():.1f})')


if __name__ == '__main__':
    main()
