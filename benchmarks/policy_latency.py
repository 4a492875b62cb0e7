"""ACT chunk inference latency: one observation in, one action chunk out (`Policy.predict_chunk`).

Prints p50/p99 per configuration and asserts nothing: run `python benchmarks/policy_latency.py`
(`--device cuda` on a GPU box). Observations are what the policy node passes: the joint state and
two uint8 (H, W, 3) camera images, so the figures include moving the images to the device,
uint8 -> float, normalisation and (CPU preset) resizing, as well as the network itself. Weights
are random: latency does not depend on their values.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dojo_core.policies import PolicyFeature, make_policy
from dojo_core.policies.act import ACTConfig
from dojo_core.policies.normalize import IMAGENET_MEAN, IMAGENET_STD

CAMERAS = ('front', 'wrist')
STATE_DIM = 6


def build(config_factory, height: int, width: int, device: str):
    inputs = {'observation.state': PolicyFeature('STATE', (STATE_DIM,))}
    inputs |= {f'observation.images.{c}': PolicyFeature('VISUAL', (3, height, width)) for c in CAMERAS}
    outputs = {'action': PolicyFeature('ACTION', (STATE_DIM,))}
    unit = {'mean': [0.0] * STATE_DIM, 'std': [1.0] * STATE_DIM}
    stats = {'observation.state': unit, 'action': unit}
    stats |= {f'observation.images.{c}': {'mean': IMAGENET_MEAN, 'std': IMAGENET_STD} for c in CAMERAS}
    config = config_factory(input_features=inputs, output_features=outputs, pretrained_backbone_weights=None)
    return make_policy(config, stats).to(device).eval()


def measure(policy, height: int, width: int, repeats: int, warmup: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    observation = {'observation.state': rng.normal(size=STATE_DIM).astype(np.float32)}
    observation |= {f'observation.images.{c}': rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                    for c in CAMERAS}
    for _ in range(warmup):
        policy.predict_chunk(observation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        policy.predict_chunk(observation)  # returns numpy: includes the device -> host copy (a sync)
        times.append(time.perf_counter() - start)
    return np.array(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=30, help='timed calls per configuration')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} CPU threads, '
          f'{len(CAMERAS)} cameras, uint8 images in, {args.repeats} calls')
    cases = [('cpu preset', ACTConfig.cpu, 480, 640), ('cpu preset', ACTConfig.cpu, 240, 320),
             ('paper default', ACTConfig, 480, 640), ('paper default', ACTConfig, 240, 320)]
    for name, factory, height, width in cases:
        policy = build(factory, height, width, args.device)
        params = sum(p.numel() for p in policy.parameters()) / 1e6
        with torch.no_grad():
            batch, _ = policy.observation_batch({k: torch.zeros(f.shape) for k, f in
                                                 policy.config.input_features.items()})
            tokens = policy.model.image_tokens(policy.normalizer.normalize_batch(batch))[0].shape[1] + 2
        ms = measure(policy, height, width, args.repeats, args.warmup)
        print(f'{name:14s} {len(CAMERAS)}x{width}x{height}: chunk {policy.config.chunk_size}, {params:5.1f} M params, '
              f'{tokens:4d} encoder tokens: p50 {np.percentile(ms, 50):7.1f} ms  p99 {np.percentile(ms, 99):7.1f} ms  '
              f'(min {ms.min():.1f})')


if __name__ == '__main__':
    main()
