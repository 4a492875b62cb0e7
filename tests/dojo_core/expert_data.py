"""Small, fast expert data for tests: the sim feature map with shrunk cameras and a sped-up expert.

Imported by the test modules that record ROS-free expert episodes (record_expert_dataset) to train
or evaluate on: 64x48 front and 32x24 wrist cameras and an expert that needs about 3.5 s of sim time
(~100 frames) per episode instead of 6 keep a recording to seconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dojo_core.expert import ExpertConfig
from dojo_core.sync import FeatureMap

FEATURES_DIR = Path(__file__).resolve().parents[2] / 'config' / 'features'
SMALL_CAMERAS = {'observation.images.front': (48, 64), 'observation.images.wrist': (24, 32)}
FAST_EXPERT = ExpertConfig(speed_scale=1.0, tool_speed=0.4, tool_acceleration=2.0, joint_acceleration=20.0,
                           grip_time=0.15, release_time=0.1)


def small_map_data(name: str = 'so101_sim', **extra_features: Any) -> dict[str, Any]:
    """The config/features map `name` as YAML data, with small cameras (and optional extra features)."""
    data = yaml.safe_load((FEATURES_DIR / f'{name}.yaml').read_text())
    for key, (height, width) in SMALL_CAMERAS.items():
        data['features'][key].update(height=height, width=width)
    data['features'].update(extra_features)
    return data


def small_map(name: str = 'so101_sim', **extra_features: Any) -> FeatureMap:
    """`small_map_data` as a FeatureMap."""
    return FeatureMap.from_dict(small_map_data(name, **extra_features))
