"""The feature map a recording uses: a config/features file plus the overrides a user may give.

The recorder node (`fps` parameter) and `dojo convert` (`--timeline`) load maps here so that an
override means the same thing in both.
"""
from __future__ import annotations

import dataclasses
import os

from dojo_core.sync import FeatureMap, FeatureMapError, load_feature_map
from dojo_core.sync.feature_spec import HEADERLESS_TYPES, JOINT_STATE, TIMELINES


def load_features(name_or_path: str | os.PathLike, *, fps: int = 0, timeline: str = '') -> FeatureMap:
    """A feature map by name (installed config/features/<name>.yaml) or path, with overrides.

    ``fps`` > 0 replaces the map's rate. ``timeline`` ('header' | 'receive') replaces the
    timeline of every feature, except that std_msgs types without a header stay on 'receive'.
    """
    features = load_feature_map(name_or_path)
    if fps:
        features = dataclasses.replace(features, fps=fps)
    if timeline:
        if timeline not in TIMELINES:
            raise FeatureMapError(f'timeline must be one of {TIMELINES}, got {timeline!r}')
        specs = {name: dataclasses.replace(spec, timeline='receive' if spec.type in HEADERLESS_TYPES else timeline)
                 for name, spec in features.features.items()}
        features = dataclasses.replace(features, timeline=timeline, features=specs)
    return features


def dataset_units(features: FeatureMap) -> str:
    """info.json's dojo units: 'degrees' when joints are stored in degrees (LeRobot's SO-101 way), else 'radians'."""
    degrees = any(spec.type == JOINT_STATE and spec.units == 'degrees' for spec in features.features.values())
    return 'degrees' if degrees else 'radians'
