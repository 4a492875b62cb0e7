"""The interface every policy implements (ACT now; Diffusion and VLAs later) and the type registry.

A policy is a torch module that owns its normaliser, so it takes observations and returns actions
in the robot's units. Checkpoint directory (`save_pretrained` / `from_pretrained` / `load_policy`):

    config.json         the policy's config dataclass with "type" (features, normalisation, sizes)
    model.safetensors   all weights, normalisation stats included (buffers under `normalizer.`)

Subclasses set `config_class` (whose `type` names them in config.json) and implement `forward`
(training loss) and `predict_normalized_chunk` (inference); a package makes its type known to
`load_policy` and `dojo train` through the `dojo.policies` entry-point group (registry.py). Every
policy is a `Trainable` (trainable.py): the optimizer, schedule and EMA defaults below suit most.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.optim.swa_utils import AveragedModel

from dojo_core.images import to_float_chw
from dojo_core.policies.config import CONFIG_NAME, PolicyConfig
from dojo_core.policies.execution import ActionQueue, TemporalEnsembler
from dojo_core.policies.features import ACTION_KEY, FeatureType, PolicyFeature
from dojo_core.policies.hub import resolve_dir
from dojo_core.policies.normalize import Normalizer
from dojo_core.policies.registry import policy_class, register
from dojo_core.policies.trainable import TrainingPreset, adamw, ema, warmup_schedule

MODEL_NAME = 'model.safetensors'

Batch = Mapping[str, Any]


class Policy(nn.Module):
    """Base class: normalisation, observation handling, chunk execution, checkpoints."""

    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.config_class.type:
            register(cls)

    def __init__(self, config: PolicyConfig, dataset_stats: Mapping[str, Mapping[str, Any]] | None = None, *,
                 load_pretrained_weights: bool = True) -> None:
        """Build from a config whose features are set, normalising with `dataset_stats` (meta/stats.json).

        `load_pretrained_weights=False` skips fetching external pretrained weights (e.g. an
        ImageNet backbone) because a checkpoint is about to overwrite them; stats may then be None.
        """
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f'{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}')
        config.validate_features()
        self.config = config
        self.normalizer = Normalizer({**config.input_features, **config.output_features},
                                     config.normalization_modes, dataset_stats, config.use_imagenet_stats)
        self._queue = ActionQueue(config.n_action_steps)
        self._ensembler = (TemporalEnsembler(config.chunk_size, config.temporal_ensemble_coeff)
                           if config.temporal_ensemble_coeff is not None else None)

    # Implemented by each policy -------------------------------------------------------------

    def forward(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """Training loss on a dataset batch (unnormalised, as the dataset yields it) and named parts.

        The batch holds the input features, `action` (B, chunk_size, A) and `action_is_pad`
        (B, chunk_size). Parts that exist only in training (e.g. a KL term) appear only in train mode.
        """
        raise NotImplementedError

    def predict_normalized_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        """(B, chunk_size, A) normalised actions from a batch of normalised inputs, in eval mode."""
        raise NotImplementedError

    # Shared behaviour -----------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def action_feature(self) -> PolicyFeature:
        return self.config.action_feature

    # Training (the Trainable protocol) ------------------------------------------------------

    def make_optimizers(self, preset: TrainingPreset) -> list[Optimizer]:
        """One AdamW; parameters inside a module named `backbone` train at the preset's `backbone_lr`."""
        return [adamw(self, preset)]

    def make_schedulers(self, optimizers: Sequence[Optimizer], preset: TrainingPreset) -> list[LRScheduler]:
        """Warm-up then the preset's schedule, for every optimizer."""
        return [warmup_schedule(optimizer, preset) for optimizer in optimizers]

    def make_ema(self, preset: TrainingPreset) -> AveragedModel | None:
        """An EMA of the weights when the preset has an `ema_decay`."""
        return None if preset.ema_decay is None else ema(self, preset.ema_decay)

    def reset(self) -> None:
        """Forget queued actions and ensembling state: call at the start of every episode."""
        self._queue.clear()
        if self._ensembler is not None:
            self._ensembler.reset()

    @property
    def n_obs_steps(self) -> int:
        """Observation frames per prediction (the length of the config's observation window)."""
        return len(self.config.observation_delta_indices)

    def observation_batch(self, observation: Batch) -> tuple[dict[str, Tensor], bool]:
        """Observation (numpy or torch, one sample or a batch) -> (float tensors on the policy's device, batched?).

        Images may be float (3, H, W) in [0, 1] as the dataset yields them, or uint8 (H, W, 3) as
        cameras deliver them; shapes must match the feature spec and values be finite (a ValueError
        otherwise, never a NaN action). Keys the policy does not read (e.g. `task`) are ignored.

        A policy with `n_obs_steps` > 1 reads a history: each input then has an explicit history
        axis of exactly that length in front of the feature's shape, (n_obs_steps, *shape) for one
        sample and (B, n_obs_steps, *shape) for a batch, and the tensors keep it. The axis is
        required, so a history of 2 is never mistaken for a batch of 2 (nor a batch for a history).
        """
        batch: dict[str, Tensor] = {}
        batched: bool | None = None
        device = self.device
        history = self.n_obs_steps if self.n_obs_steps > 1 else 0
        for name, feature in self.config.input_features.items():
            if name not in observation:
                raise KeyError(f'observation lacks {name!r}; the policy reads {list(self.config.input_features)}')
            value = observation[name]
            x = value if isinstance(value, Tensor) else torch.from_numpy(np.array(value))
            x = x.to(device)
            if feature.type is FeatureType.VISUAL and x.dtype == torch.uint8:
                x = to_float_chw(x)
            else:
                x = x.to(torch.float32)
                if not torch.isfinite(x).all():
                    raise ValueError(f'{name!r} contains NaN or inf')
            rank = len(feature.shape) + bool(history)
            expected = ((history,) if history else ()) + tuple(feature.shape)
            if x.ndim not in (rank, rank + 1) or tuple(x.shape[-rank:]) != expected:
                camera = ', or uint8 (H, W, 3)' if feature.type is FeatureType.VISUAL else ''
                axis = f' with its history axis of {history} first' if history else ''
                raise ValueError(f'{name!r} has shape {tuple(x.shape)}; expected {expected}{axis} '
                                 f'(or a batch of it{camera})')
            is_batched = x.ndim == rank + 1
            if batched is not None and is_batched != batched:
                raise ValueError('mixed batched and unbatched observation entries')
            batched = is_batched
            batch[name] = x if is_batched else x.unsqueeze(0)
        return batch, bool(batched)

    @torch.no_grad()
    def predict_chunk(self, observation: Batch) -> np.ndarray:
        """Actions in the robot's units: (chunk_size, A) for one observation, (B, chunk_size, A) for a batch."""
        batch, batched = self.observation_batch(observation)
        was_training = self.training
        self.eval()
        try:
            actions = self.predict_normalized_chunk(self.normalizer.normalize_batch(batch))
        finally:
            self.train(was_training)
        actions = self.normalizer.unnormalize(ACTION_KEY, actions).cpu().numpy()
        return actions if batched else actions[0]

    def select_action(self, observation: Batch) -> np.ndarray:
        """The action (A,) for this control step from one observation (queue or temporal ensemble)."""
        if self._ensembler is not None:
            chunk = self.predict_chunk(observation)
            if chunk.ndim != 2:
                raise ValueError('select_action takes one observation, not a batch')
            return self._ensembler.update(chunk)
        if self._queue.empty:
            chunk = self.predict_chunk(observation)
            if chunk.ndim != 2:
                raise ValueError('select_action takes one observation, not a batch')
            self._queue.push(chunk)
        return self._queue.pop()

    # Checkpoints ----------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json and model.safetensors (weights and normalisation stats) into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory)
        save_model(self, str(directory / MODEL_NAME), metadata={'type': self.config.type})
        return directory

    @classmethod
    def from_pretrained(cls, path_or_repo: str | Path, *, device: str | torch.device = 'cpu',
                        revision: str | None = None) -> Policy:
        """Load a checkpoint dir (or Hub repo id) written by `save_pretrained`, in eval mode.

        On the base class any registered type loads; on a subclass the checkpoint must be of it.
        From the Hub the JSON files come along (dataset.json: what the policy was trained on).
        """
        directory = resolve_dir(path_or_repo, revision=revision, allow_patterns=[CONFIG_NAME, '*.safetensors', '*.json'])
        config = PolicyConfig.load(directory)
        loaded_class = policy_class(config.type)
        if not issubclass(loaded_class, cls):
            raise TypeError(f'{path_or_repo} holds a {config.type!r} policy, which {cls.__name__} cannot load')
        policy = loaded_class(config, None, load_pretrained_weights=False)
        weights = directory / MODEL_NAME
        if not weights.is_file():
            raise FileNotFoundError(f'no {MODEL_NAME} in {directory}')
        load_model(policy, str(weights), strict=True)
        return policy.to(device).eval()


def load_policy(path_or_repo: str | Path, *, device: str | torch.device = 'cpu', revision: str | None = None) -> Policy:
    """Load any registered policy type from a checkpoint dir or Hub repo id."""
    return Policy.from_pretrained(path_or_repo, device=device, revision=revision)


def make_policy(config: PolicyConfig, dataset_stats: Mapping[str, Mapping[str, Any]] | None) -> Policy:
    """A fresh policy of the config's type, normalising with the dataset stats."""
    return policy_class(config.type)(config, dataset_stats)
