"""The contract between training and serving that a checkpoint carries: the feature map of its data.

A policy only works on observations built exactly as its training data was: the same features,
shapes, joint units and frame rate. The recorder stores the feature map a dataset was recorded
with in info.json (`dojo.feature_map`: the YAML and its sha256), training copies the dataset's
record into every checkpoint (`dataset.json`, dojo_core.dataset.record), so a checkpoint knows
the map it was trained with, and the units, fps and camera sizes that go with it.

`resolve_feature_map` is what every server uses (policy_node, `dojo eval`, ROS-free rollouts): the
embedded map by default; a map the user names instead (e.g. the same robot with other topic
names) must agree with it on everything but topics and freshness settings, and a mismatch is one
error line naming each difference, never a policy served on numbers it was not trained on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dojo_core.dataset.format import FEATURE_MAP_KEY
from dojo_core.dataset.record import DatasetRecord, read_dataset_record
from dojo_core.policies import PolicyConfig
from dojo_core.policies.features import ACTION_KEY
from dojo_core.policies.hub import resolve_dir
from dojo_core.sync import FeatureMap, FeatureMapError, load_feature_map
from dojo_core.sync.feature_spec import IMAGE, JOINT_STATE, FeatureSpec


@dataclass(frozen=True)
class Contract:
    """What a checkpoint says about the data it was trained on."""

    record: DatasetRecord
    feature_map: FeatureMap | None   # None: the dataset was not recorded by dojo with a map (e.g. lerobot's)
    sha256: str | None

    @property
    def fps(self) -> int:
        return self.record.fps

    def describe(self) -> str:
        source = self.record.repo_id or self.record.path
        if self.feature_map is None:
            return f'checkpoint trained on {source} ({self.fps} fps, {self.record.units or "unknown"} units, no map)'
        return f"the checkpoint's embedded feature map (sha256 {self.sha256[:12]}, from {source})"


def checkpoint_contract(checkpoint: str | Path, revision: str | None = None) -> Contract | None:
    """The contract of a checkpoint directory or Hub repo id; None when it has no dataset record.

    FeatureMapError when the embedded map is damaged (its hash does not match its text).
    """
    directory = resolve_dir(checkpoint, revision=revision, allow_patterns=['*.json'])
    try:
        record = read_dataset_record(directory)
    except FileNotFoundError:
        return None
    embedded = (record.dojo or {}).get(FEATURE_MAP_KEY)
    if not embedded:
        return Contract(record, None, None)
    feature_map = FeatureMap.from_embedding(embedded, source=f'{checkpoint} (embedded feature map)')
    return Contract(record, feature_map, embedded['sha256'])


def _joint_units(spec: FeatureSpec) -> tuple[str, dict[str, tuple[float, float]]]:
    return spec.units, {joint: tuple(bounds) for joint, bounds in spec.percent.items()}


def _spec_differences(name: str, trained: FeatureSpec, given: FeatureSpec) -> list[str]:
    """How `given` would feed the policy differently from `trained` (topics and freshness may differ)."""
    problems = []
    if trained.type != given.type:
        problems.append(f'{name} is a {trained.type} in training, a {given.type} here')
        return problems
    if trained.type == IMAGE and (trained.width, trained.height) != (given.width, given.height):
        problems.append(f'{name} is {trained.width}x{trained.height} in training, {given.width}x{given.height} here')
    if trained.type == JOINT_STATE:
        if (trained.field, trained.joints) != (given.field, given.joints):
            problems.append(f'{name} is {trained.field} of {list(trained.joints)} in training, {given.field} of '
                            f'{list(given.joints)} here')
        elif _joint_units(trained) != _joint_units(given):
            problems.append(f'{name} units are {_units_text(trained)} in training, {_units_text(given)} here')
    elif trained.shape != given.shape:
        problems.append(f'{name} has shape {trained.shape} in training, {given.shape} here')
    return problems


def _units_text(spec: FeatureSpec) -> str:
    percent = f' (percent: {", ".join(spec.percent)})' if spec.percent else ''
    return spec.units + percent


def contract_mismatches(trained: FeatureMap, given: FeatureMap, policy: PolicyConfig) -> list[str]:
    """Every way `given` differs from the training map for this policy's features (and the fps)."""
    problems = []
    if trained.fps != given.fps:
        problems.append(f'fps is {trained.fps} in training, {given.fps} here')
    for name in [*policy.input_features, ACTION_KEY]:
        if name not in trained.features:
            continue  # not a mapped feature: the binding reports it
        if name not in given.features:
            problems.append(f'{name} is missing here')
            continue
        problems += _spec_differences(name, trained.features[name], given.features[name])
    return problems


def _record_mismatches(record: DatasetRecord, given: FeatureMap, policy: PolicyConfig) -> list[str]:
    """Without an embedded map: the record's fps, units and feature shapes/names against the map."""
    problems = []
    if record.fps != given.fps:
        problems.append(f'fps is {record.fps} in training, {given.fps} here')
    degrees = any(spec.units == 'degrees' for spec in given.features.values() if spec.type == JOINT_STATE)
    if record.units is not None and record.units != ('degrees' if degrees else 'radians'):
        problems.append(f'joints are in {record.units} in training, {"degrees" if degrees else "radians"} here')
    for name in [*policy.input_features, ACTION_KEY]:
        feature, spec = record.features.get(name), given.features.get(name)
        if feature is None or spec is None:
            continue
        wanted = spec.lerobot_feature()
        if list(feature['shape']) != list(wanted['shape']):
            problems.append(f'{name} has shape {tuple(feature["shape"])} in training, {tuple(wanted["shape"])} here')
        elif feature.get('names') is not None and wanted.get('names') is not None \
                and list(feature['names']) != list(wanted['names']):
            problems.append(f'{name} holds {feature["names"]} in training, {wanted["names"]} here')
    return problems


def resolve_feature_map(checkpoint: str | Path, policy: PolicyConfig, override: str = '',
                        revision: str | None = None) -> tuple[FeatureMap, str]:
    """(the feature map to serve `checkpoint` with, where it came from).

    `override` empty: the checkpoint's embedded map (FeatureMapError if it has none). Otherwise the
    named map (config/features name or YAML path), which must agree with the checkpoint's: one
    FeatureMapError line listing every difference.
    """
    contract = checkpoint_contract(checkpoint, revision)
    if not override:
        if contract is None or contract.feature_map is None:
            why = 'has no dataset record' if contract is None else 'was trained on a dataset recorded without one'
            raise FeatureMapError(f'{checkpoint} {why}, so it embeds no feature map: set feature_map to the map its '
                                  'training data was recorded with')
        return contract.feature_map, contract.describe()
    given = load_feature_map(override)
    if contract is not None:
        problems = (contract_mismatches(contract.feature_map, given, policy) if contract.feature_map is not None
                    else _record_mismatches(contract.record, given, policy))
        if problems:
            raise FeatureMapError(f'feature map {override!r} does not match the checkpoint ({contract.describe()}): '
                                  + '; '.join(problems))
    return given, f'feature map {override!r}'
