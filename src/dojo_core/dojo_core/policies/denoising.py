"""Generative action objectives shared by chunk policies: DDPM/DDIM diffusion and flow matching.

A denoising policy learns a network `f(noisy_actions, timestep, condition)`; the objective says
how a training pair is made from a clean action chunk and how a chunk is sampled from noise by
calling that network repeatedly. Diffusion Policy uses it, and a VLA action expert can reuse it.

- `diffusion`: the noise schedules are `diffusers`' (DDPM for training; DDIM by default for
  inference, in fewer steps on the same schedule), not written here. The network predicts the
  noise (`epsilon`) or the clean chunk (`sample`); with `clip_sample` the predicted clean chunk
  is clipped to [-1, 1], which suits MIN_MAX-normalised actions.
- `flow_matching`: x_t = t * noise + (1 - t) * actions with t ~ U(0, 1) (t = 1 is pure noise, the
  convention of pi0 and SmolVLA); the network predicts the velocity noise - actions, and sampling
  integrates it with Euler steps from t = 1 to 0. These few lines have no library to come from.

Timesteps reach the network as floats on one scale for both objectives, [0, num_train_timesteps),
so the same step embedding serves either.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

OBJECTIVES = ('diffusion', 'flow_matching')
INFERENCE_SCHEDULERS = ('DDIM', 'DDPM')
BETA_SCHEDULES = ('squaredcos_cap_v2', 'linear', 'scaled_linear', 'sigmoid')
PREDICTION_TYPES = ('epsilon', 'sample')

Denoiser = Callable[[Tensor, Tensor], Tensor]  # (noisy actions (B, T, A), timesteps (B,)) -> prediction


@dataclass(frozen=True)
class DenoisingSettings:
    """The objective and its schedule, as a policy config declares them."""

    objective: str = 'diffusion'
    num_train_timesteps: int = 100
    num_inference_steps: int = 10
    inference_scheduler: str = 'DDIM'
    beta_schedule: str = 'squaredcos_cap_v2'
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction_type: str = 'epsilon'
    clip_sample: bool = True
    clip_sample_range: float = 1.0

    def __post_init__(self) -> None:
        for name, allowed in (('objective', OBJECTIVES), ('inference_scheduler', INFERENCE_SCHEDULERS),
                              ('beta_schedule', BETA_SCHEDULES), ('prediction_type', PREDICTION_TYPES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f'{name} must be one of {allowed}, got {getattr(self, name)!r}')
        if self.num_train_timesteps < 1 or self.num_inference_steps < 1:
            raise ValueError('num_train_timesteps and num_inference_steps must be at least 1')
        if self.objective == 'diffusion' and self.num_inference_steps > self.num_train_timesteps:
            raise ValueError(f'num_inference_steps ({self.num_inference_steps}) cannot exceed num_train_timesteps '
                             f'({self.num_train_timesteps})')


class Objective:
    """Training pairs and sampling for one `DenoisingSettings`."""

    def __init__(self, settings: DenoisingSettings) -> None:
        self.settings = settings

    def training_pair(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(noisy actions, timesteps (B,) float, regression target) for a clean chunk (B, T, A)."""
        raise NotImplementedError

    def sample(self, denoise: Denoiser, noise: Tensor) -> Tensor:
        """A clean chunk from `noise` (B, T, A) by `num_inference_steps` calls of `denoise`."""
        raise NotImplementedError


class DiffusionObjective(Objective):
    """DDPM training (random timestep, noise added by the schedule); DDIM or DDPM sampling."""

    def __init__(self, settings: DenoisingSettings) -> None:
        super().__init__(settings)
        from diffusers import DDIMScheduler, DDPMScheduler  # imported with the policy that needs it

        self.train_scheduler = DDPMScheduler(
            num_train_timesteps=settings.num_train_timesteps, beta_schedule=settings.beta_schedule,
            beta_start=settings.beta_start, beta_end=settings.beta_end, prediction_type=settings.prediction_type,
            clip_sample=settings.clip_sample, clip_sample_range=settings.clip_sample_range)
        inference = DDIMScheduler if settings.inference_scheduler == 'DDIM' else DDPMScheduler
        self.inference_scheduler = inference.from_config(self.train_scheduler.config)

    def training_pair(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        noise = torch.randn_like(actions)
        timesteps = torch.randint(0, self.settings.num_train_timesteps, (actions.shape[0],), device=actions.device)
        noisy = self.train_scheduler.add_noise(actions, noise, timesteps)
        target = noise if self.settings.prediction_type == 'epsilon' else actions
        return noisy, timesteps.to(actions.dtype), target

    def sample(self, denoise: Denoiser, noise: Tensor) -> Tensor:
        scheduler = self.inference_scheduler
        scheduler.set_timesteps(self.settings.num_inference_steps, device=noise.device)
        x = noise
        for t in scheduler.timesteps:
            prediction = denoise(x, torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device))
            x = scheduler.step(prediction, t, x).prev_sample
        return x


class FlowMatchingObjective(Objective):
    """Linear noise-to-data paths; the network predicts the velocity, sampled with Euler steps."""

    def training_pair(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        noise = torch.randn_like(actions)
        t = torch.rand(actions.shape[0], device=actions.device, dtype=actions.dtype)
        noisy = t[:, None, None] * noise + (1.0 - t[:, None, None]) * actions
        return noisy, t * self.settings.num_train_timesteps, noise - actions

    def sample(self, denoise: Denoiser, noise: Tensor) -> Tensor:
        steps = self.settings.num_inference_steps
        x = noise
        for i in range(steps):
            t = 1.0 - i / steps
            velocity = denoise(x, torch.full((x.shape[0],), t * self.settings.num_train_timesteps,
                                             dtype=x.dtype, device=x.device))
            x = x - velocity / steps
        return x


def make_objective(settings: DenoisingSettings) -> Objective:
    """The objective `settings.objective` names."""
    if settings.objective == 'diffusion':
        return DiffusionObjective(settings)
    return FlowMatchingObjective(settings)
