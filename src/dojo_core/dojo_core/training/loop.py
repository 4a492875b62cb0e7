"""`train()`: the training loop every policy type shares (the `dojo train` verb calls it).

It trains any `Trainable` (dojo_core.policies.trainable) and names no method: the policy gives
the loss, its optimizers and schedulers (any number, all stepped every step), an optional EMA of
its weights and its recipe (`training_preset`, overridden by the TrainConfig fields that are set).

One loop for CPU, one GPU and DDP: under `torchrun` each process trains on its share of every
epoch (DistributedSampler) and DistributedDataParallel averages the gradients (frozen parameters
are left out of it, and parameters a step's loss does not reach are allowed); only rank 0 writes
checkpoints, loss.csv and loss.png. A run is reproducible from its seed, and `resume=True`
continues from `checkpoints/last` exactly as if it had never stopped: weights, optimizers,
schedulers, the EMA, the RNG state of every rank and the position inside the epoch are restored.
With an EMA the checkpoint's pretrained_model holds the averaged weights (the ones to serve) and
training_state.pt the raw ones. `TrainConfig.time_limit_s` turns the step count into a cap under a
wall-clock budget (what `dojo bench` compares methods with): when the budget is spent the loop
saves its checkpoint and stops, and the result says how far it got.
"""
from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from dojo_core.policies import PolicyConfig, Trainable, TrainingPreset, load_policy, make_policy
from dojo_core.training.checkpoint import (CHECKPOINTS_DIR, PRETRAINED_DIR, last_checkpoint, load_training_state,
                                           save_checkpoint)
from dojo_core.training.config import TrainConfig
from dojo_core.training.curves import LossLog
from dojo_core.training.distributed import DistContext, distributed
from dojo_core.training.rng import rng_state, seed_everything, set_rng_state
from dojo_core.training.sampler import ResumableSampler

log = logging.getLogger(__name__)

LOSS_CSV = 'loss.csv'
LOSS_PNG = 'loss.png'


@dataclass
class TrainResult:
    policy: Trainable       # the trained policy to serve (its EMA if it has one; identical on every rank)
    step: int               # steps done in total
    loss: float             # loss of the last step (this process's batch)
    checkpoint: Path        # the last checkpoint written
    loss_csv: Path
    loss_png: Path
    time_limited: bool = False  # stopped by config.time_limit_s before config.steps


def _to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def _build_policy(out_dir: Path, policy_config: PolicyConfig | None,
                  dataset_stats: Mapping[str, Any] | None, resume: bool) -> tuple[Trainable, Path | None]:
    if not resume:
        if policy_config is None:
            raise ValueError('a new run needs a policy_config (and the dataset stats)')
        return make_policy(policy_config, dataset_stats), None
    checkpoint = last_checkpoint(out_dir)
    policy = load_policy(checkpoint / PRETRAINED_DIR)
    if policy_config is not None and policy_config.to_dict() != policy.config.to_dict():
        raise ValueError(f'resume continues the policy saved in {checkpoint}; its config differs from the '
                         'policy_config given (pass policy_config=None to resume)')
    return policy, checkpoint


@dataclass
class _Optimization:
    """What a Trainable trains with, built from its resolved preset."""

    preset: TrainingPreset
    optimizers: list[torch.optim.Optimizer]
    schedulers: list[torch.optim.lr_scheduler.LRScheduler]
    ema: torch.optim.swa_utils.AveragedModel | None

    @classmethod
    def of(cls, policy: Trainable, preset: TrainingPreset) -> _Optimization:
        optimizers = policy.make_optimizers(preset)
        return cls(preset, optimizers, policy.make_schedulers(optimizers, preset), policy.make_ema(preset))

    def step(self, policy: Trainable) -> None:
        for optimizer in self.optimizers:
            optimizer.step()
        for scheduler in self.schedulers:
            scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(policy)

    def served(self, policy: Trainable) -> Trainable:
        """The weights a checkpoint's pretrained_model holds."""
        return policy if self.ema is None else self.ema.module

    def state(self, policy: Trainable) -> dict[str, Any]:
        state: dict[str, Any] = {'optimizers': [o.state_dict() for o in self.optimizers],
                                 'schedulers': [s.state_dict() for s in self.schedulers]}
        if self.ema is not None:
            state.update(ema=self.ema.state_dict(), model=policy.state_dict())
        return state

    def load_state(self, state: Mapping[str, Any], policy: Trainable) -> None:
        for kind, objects in (('optimizers', self.optimizers), ('schedulers', self.schedulers)):
            if len(state[kind]) != len(objects):
                raise ValueError(f'the checkpoint has {len(state[kind])} {kind}, the policy makes {len(objects)}')
            for obj, saved in zip(objects, state[kind]):
                obj.load_state_dict(saved)
        if (self.ema is None) != ('ema' not in state):
            raise ValueError('the checkpoint and the policy preset disagree on whether to keep an EMA')
        if self.ema is not None:
            policy.load_state_dict(state['model'])  # pretrained_model holds the EMA weights
            self.ema.load_state_dict(state['ema'])


def _restore(checkpoint: Path, policy: Trainable, optimization: _Optimization, ctx: DistContext,
             config: TrainConfig) -> int:
    """Load the training state and this rank's RNG state; returns the step the checkpoint was taken at."""
    state = load_training_state(checkpoint)
    if 'optimizer' in state:  # a checkpoint from before several optimizers were allowed
        state = {**state, 'optimizers': [state['optimizer']], 'schedulers': [state['scheduler']]}
    optimization.load_state(state, policy)
    if len(state['rng']) == ctx.world_size and state['batch_size'] == config.batch_size:
        set_rng_state(state['rng'][ctx.rank])
    else:
        warnings.warn(f'resuming with {ctx.world_size} process(es) x batch {config.batch_size} instead of '
                      f'{len(state["rng"])} x {state["batch_size"]}: data order and random draws will differ '
                      'from an uninterrupted run', stacklevel=3)
    log.info('resuming from %s at step %d', checkpoint, state['step'])
    return state['step']


def _loader(dataset: Dataset, sampler: ResumableSampler, config: TrainConfig, ctx: DistContext,
            epoch: int) -> DataLoader:
    # Its own generator (worker seeds) keeps the global RNG stream independent of when loaders are made.
    seed = int(np.random.SeedSequence([config.seed, ctx.rank, epoch]).generate_state(1)[0])
    return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=True,
                      num_workers=config.num_workers, pin_memory=ctx.device.type == 'cuda',
                      generator=torch.Generator().manual_seed(seed))


def train(config: TrainConfig, dataset: Dataset, out_dir: str | Path, policy_config: PolicyConfig | None = None,
          dataset_stats: Mapping[str, Mapping[str, Any]] | None = None, *, resume: bool = False) -> TrainResult:
    """Train a policy on `dataset` and write checkpoints and the loss curve under `out_dir`.

    `dataset` yields LeRobot-style samples with the windows the policy's config declares
    (`PolicyConfig.delta_indices()`: e.g. `action` (T, A) and `action_is_pad`); `dataset_stats` is
    meta/stats.json, from which the policy's normaliser is built. `config` fields left at None
    take the policy's training preset. With `resume=True` the policy, its config and stats come
    from `out_dir/checkpoints/last` and training continues up to `config.steps` (policy_config may
    be omitted). A new run refuses an `out_dir` that already holds checkpoints.
    """
    out_dir = Path(out_dir)
    with distributed(config.device) as ctx:
        seed_everything(config.seed + ctx.rank)
        if not resume and (out_dir / CHECKPOINTS_DIR).exists():
            raise FileExistsError(f'{out_dir} already holds a training run: resume it (resume=True) or choose '
                                  'another output directory')
        policy, checkpoint = _build_policy(out_dir, policy_config, dataset_stats, resume)
        policy.to(ctx.device).train()
        preset = config.preset(policy.config.training_preset())
        config = config.resolved(preset)
        optimization = _Optimization.of(policy, preset)
        trained = [p for p in policy.parameters() if p.requires_grad]
        clip = float('inf') if preset.grad_clip_norm is None else preset.grad_clip_norm
        step = 0 if checkpoint is None else _restore(checkpoint, policy, optimization, ctx, config)
        model = policy
        if ctx.world_size > 1:
            # frozen parameters are not synchronised; a step's loss may leave some parameters out
            device_ids = [ctx.device.index] if ctx.device.type == 'cuda' else None
            model = DistributedDataParallel(policy, device_ids=device_ids, find_unused_parameters=True)

        sampler = ResumableSampler(dataset, world_size=ctx.world_size, rank=ctx.rank, seed=config.seed)
        batches_per_epoch = len(sampler) // config.batch_size
        if batches_per_epoch == 0:
            raise ValueError(f'{len(dataset)} samples over {ctx.world_size} process(es) do not fill one batch of '
                             f'{config.batch_size}')
        epoch, skip = divmod(step, batches_per_epoch)
        loss_log = LossLog(out_dir / LOSS_CSV, keep_until_step=step) if ctx.is_main else None
        bar = tqdm(total=config.steps, initial=step, disable=not (ctx.is_main and config.progress),
                   desc='train', unit='step', dynamic_ncols=True)
        # elapsed_s counts training time across resumes
        started = time.perf_counter() - (loss_log.rows[-1]['elapsed_s'] if loss_log and loss_log.rows else 0.0)
        deadline = started + config.time_limit_s if config.time_limit_s else math.inf
        last_loss, saved, out_of_time = float('nan'), checkpoint, False
        while step < config.steps and not out_of_time:
            sampler.set_position(epoch, skip * config.batch_size)
            for batch in _loader(dataset, sampler, config, ctx, epoch):
                loss, parts = model(_to_device(batch, ctx.device))
                if not torch.isfinite(loss):
                    raise FloatingPointError(f'loss is {loss.item()} at step {step + 1}')
                policy.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(trained, clip)
                optimization.step(policy)
                step += 1
                last_loss = loss.item()
                if loss_log is not None:
                    loss_log.append({'step': step, 'loss': last_loss, **{k: v.item() for k, v in parts.items()},
                                     'grad_norm': grad_norm.item(),
                                     'lr': optimization.optimizers[0].param_groups[0]['lr'],
                                     'elapsed_s': time.perf_counter() - started})
                bar.update(1)
                if step % config.log_every == 0:
                    bar.set_postfix(loss=f'{last_loss:.4f}')
                    if ctx.is_main and not config.progress:
                        log.info('step %d loss %.5f', step, last_loss)
                out_of_time = _out_of_time(deadline, ctx)
                if step % config.save_every == 0 or step == config.steps or out_of_time:
                    states = ctx.all_gather(rng_state())  # every rank's RNG, for an exact DDP resume
                    if ctx.is_main:
                        saved = save_checkpoint(out_dir, step, optimization.served(policy), {
                            **optimization.state(policy), 'rng': states, 'world_size': ctx.world_size,
                            'batch_size': config.batch_size,
                        }, config)
                        loss_log.plot(out_dir / LOSS_PNG)
                        log.info('step %d: checkpoint %s', step, saved)
                    ctx.barrier()
                if step >= config.steps or out_of_time:
                    break
            epoch, skip = epoch + 1, 0
        bar.close()
        if loss_log is not None:
            loss_log.plot(out_dir / LOSS_PNG)
        return TrainResult(optimization.served(policy), step, last_loss, saved or last_checkpoint(out_dir),
                           out_dir / LOSS_CSV, out_dir / LOSS_PNG, out_of_time)


def _out_of_time(deadline: float, ctx: DistContext) -> bool:
    """Whether the time budget is spent, on any rank: under DDP every rank must stop at the same step."""
    if math.isinf(deadline):
        return False
    return any(ctx.all_gather(time.perf_counter() >= deadline))
