"""The fast learner (--learner fast): SB3's PPO with its two hot paths written out for SB3's
plain MLP policies.

- train(): PPO.train step for step, the forward pass and the gradients of PPO's loss
  written out instead of traced by autograd. For the small networks PPO uses here, a
  minibatch's update is dominated by the number of tensor operations, not their arithmetic;
  autograd records and replays about three times as many (benchmarks/learner_ceiling.py).
  The gradients go to SB3's own Adam, clipped and stepped as SB3 does, by the fused kernel
  Adam.step() itself calls (_Step), so model.zip, its optimizer state and the
  hyperparameters stay stock.
- act(): the policy's forward pass in a rollout, the same operations as SB3's, bit for bit
  (the same actions from the same random state), without building a torch Distribution
  object and checking its arguments at every env step.

tests/training/test_fast_learner.py compares one update with PPO.train on the same rollout,
and act() with the policy's forward.

Covers: a Box action space, a diagonal Gaussian without gSDE, a flat Box observation through
FlattenExtractor or a Dict of them through CombinedExtractor (goal envs: MultiInputPolicy),
separate policy and value MLPs of Linear + Tanh layers (SB3's MlpExtractor),
clip_range_vf or not, target_kl or not. Anything else takes PPO.train (supports() says why).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import (
    CombinedExtractor,
    FlattenExtractor,
    MlpExtractor,
)
from stable_baselines3.common.utils import explained_variance

LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))
# What the written-out forward stands for: a policy class that changes one of these (e.g.
# BoundedMlpPolicy's squashed mean) takes PPO.train.
OWN_METHODS = (
    "forward",
    "evaluate_actions",
    "extract_features",
    "_get_action_dist_from_latent",
    "predict_values",
)


def _mlp(net: torch.nn.Module) -> list[torch.nn.Linear] | None:
    """The Linear layers of a Linear-Tanh-Linear-Tanh... Sequential, or None."""
    layers = list(net)
    linears = layers[0::2]
    if len(layers) % 2 or not all(isinstance(m, torch.nn.Linear) for m in linears):
        return None
    if not all(isinstance(m, torch.nn.Tanh) for m in layers[1::2]):
        return None
    return linears


def supports(model: Any) -> str | None:
    """None when the written-out update applies to this model, else why not."""
    policy = model.policy
    for name in OWN_METHODS:
        if getattr(type(policy), name) is not getattr(ActorCriticPolicy, name):
            return f"{type(policy).__name__} has its own {name}"
    if type(policy.mlp_extractor) is not MlpExtractor:
        return f"{type(policy.mlp_extractor).__name__} is not SB3's MlpExtractor"
    if not isinstance(model.action_space, spaces.Box) or policy.use_sde:
        return "not a Box action space with a diagonal Gaussian"
    if type(policy.action_dist) is not DiagGaussianDistribution:
        return "not a diagonal Gaussian"
    why = _features_not_flat(policy)
    if why:
        return why
    if not policy.share_features_extractor:
        return "separate features extractors"
    extractor = policy.mlp_extractor
    if _mlp(extractor.policy_net) is None or _mlp(extractor.value_net) is None:
        return "the MLPs are not Linear + Tanh"
    if policy.device.type != "cpu":
        return "not on CPU"
    if not all(p.requires_grad for p in policy.parameters()):
        return "frozen parameters"
    return None


def _features_not_flat(policy: ActorCriticPolicy) -> str | None:
    """None when the features are the observation flattened (a Box), or its keys' flattened
    and joined (a Dict of Boxes through CombinedExtractor), else why not."""
    space, extractor = policy.observation_space, policy.pi_features_extractor
    boxes = space.spaces.values() if isinstance(space, spaces.Dict) else [space]
    if not all(isinstance(s, spaces.Box) and not is_image_space(s) for s in boxes):
        return "observations are not Boxes of numbers (Discrete, images)"
    if isinstance(space, spaces.Dict):
        if type(extractor) is not CombinedExtractor or not all(
            type(e) is torch.nn.Flatten for e in extractor.extractors.values()
        ):
            return "a Dict observation not through CombinedExtractor's Flatten"
    elif type(extractor) is not FlattenExtractor:
        return "not FlattenExtractor"
    return None


def _features(policy: ActorCriticPolicy, observations) -> torch.Tensor:
    """What SB3's preprocess_obs and the extractor make of Box observations (supports())."""
    if isinstance(observations, dict):  # CombinedExtractor: its keys' order
        keys = policy.pi_features_extractor.extractors
        return torch.cat([observations[k].float().flatten(1) for k in keys], dim=1)
    return observations.float().flatten(1)


def use_fused_adam(optimizer: torch.optim.Optimizer, fused: bool) -> None:
    """SB3's Adam, stepped by torch's fused CPU kernel instead of its per-tensor loop (the
    same update to float rounding, in a quarter of the time), or by torch's default again.
    The flag lives in the optimizer's state, which model.zip keeps and stock SB3 loads."""
    if type(optimizer) is torch.optim.Adam:
        for group in optimizer.param_groups:
            group["fused"], group["foreach"] = (True, False) if fused else (None, None)


class _Net:
    """The policy's parameters as the written-out forward and backward use them."""

    def __init__(self, policy: ActorCriticPolicy) -> None:
        self.policy = policy
        self.pi = _mlp(policy.mlp_extractor.policy_net)
        self.vf = _mlp(policy.mlp_extractor.value_net)

    @staticmethod
    def forward(layers: list[torch.nn.Linear], out: torch.nn.Linear, x: torch.Tensor):
        """SB3's MLP, the same operations (acting: bit for bit)."""
        hidden = [x]
        for layer in layers:
            hidden.append(torch.tanh(torch.addmm(layer.bias, hidden[-1], layer.weight.t())))
        return hidden, torch.addmm(out.bias, hidden[-1], out.weight.t())

    @staticmethod
    def forward_for_update(layers: list[torch.nn.Linear], out: torch.nn.Linear, x: torch.Tensor):
        """The same MLP with tanh(z) computed as 2 sigmoid(2z) - 1: torch's tanh kernel costs
        ~2.8 ns per element on this CPU, sigmoid and two in-place ops ~1.2, and the update
        spent a fifth of its time in tanh. The 2z comes out of addmm itself (alpha = beta =
        2: exact in binary floats). Within 2e-7 of tanh: float rounding, as the update's
        test checks; acting keeps torch's tanh (its actions are SB3's bit for bit)."""
        hidden = [x]
        for layer in layers:
            z2 = torch.addmm(layer.bias, hidden[-1], layer.weight.t(), beta=2, alpha=2)
            hidden.append(z2.sigmoid_().mul_(2).sub_(1))
        return hidden, torch.addmm(out.bias, hidden[-1], out.weight.t())

    @staticmethod
    def backward(layers, out, hidden, d_out, grads: dict) -> None:
        """The gradients of the layers' parameters, written into grads' buffers."""
        torch.mm(d_out.t(), hidden[-1], out=grads[out.weight])
        torch.sum(d_out, 0, out=grads[out.bias])
        d_hidden = d_out @ out.weight
        for i in range(len(layers) - 1, -1, -1):
            d_z = torch.ops.aten.tanh_backward(d_hidden, hidden[i + 1])  # one kernel
            torch.mm(d_z.t(), hidden[i], out=grads[layers[i].weight])
            torch.sum(d_z, 0, out=grads[layers[i].bias])
            if i:
                d_hidden = d_z @ layers[i].weight


def _step_hooks(optimizer: torch.optim.Optimizer) -> bool:
    """Whether hooks are registered around this optimizer's step() (its own or every
    optimizer's); True where this torch keeps them elsewhere, to be safe."""
    from torch.optim import optimizer as module

    registries = (
        getattr(optimizer, "_optimizer_step_pre_hooks", None),
        getattr(optimizer, "_optimizer_step_post_hooks", None),
        getattr(module, "_global_optimizer_pre_hooks", None),
        getattr(module, "_global_optimizer_post_hooks", None),
    )
    return any(registry is None or len(registry) for registry in registries)


def _adam_kernel(params, grads, exp_avgs, exp_avg_sqs, steps, ones, group) -> None:
    """One Adam step of these tensors, as Adam.step() makes it with fused=True."""
    torch._foreach_add_(steps, ones)  # step += 1; a scalar 1 costs 5x as much on CPU
    torch._fused_adam_(
        params, grads, exp_avgs, exp_avg_sqs, [], steps,
        amsgrad=False, lr=group["lr"], beta1=group["betas"][0], beta2=group["betas"][1],
        weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
        grad_scale=None, found_inf=None,
    )  # fmt: skip


@functools.cache
def _direct_kernel_steps_as_adam() -> bool:
    """Whether _adam_kernel steps exactly as Adam.step() does in this torch: checked once per
    process on a tiny problem (no random numbers drawn), so that a torch whose private kernel
    changed its arguments or their meaning gets optimizer.step() instead of an error or
    another step."""
    if not hasattr(torch, "_fused_adam_"):
        return False
    options = {"lr": 3e-4, "betas": (0.9, 0.999), "eps": 1e-5, "weight_decay": 0.0}
    pairs = []
    for _ in range(2):
        param = torch.nn.Parameter(torch.linspace(-1.0, 1.0, 7))
        pairs.append((param, torch.optim.Adam([param], fused=True, **options)))
    (adams, adam), (mine, optimizer) = pairs
    try:
        for k in range(3):
            grad = torch.linspace(0.5, -0.25, 7) * (k + 1)
            adams.grad, mine.grad = grad.clone(), grad.clone()
            adam.step()
            if k == 0:
                optimizer.step()  # the first step makes the state, as in _Step
                continue
            state = optimizer.state[mine]
            _adam_kernel(
                [mine], [mine.grad], [state["exp_avg"]], [state["exp_avg_sq"]],
                [state["step"]], [torch.ones((), dtype=state["step"].dtype)],
                optimizer.param_groups[0],
            )  # fmt: skip
    except (TypeError, RuntimeError, ValueError):
        return False
    theirs, ours = adam.state[adams], optimizer.state[mine]
    return torch.equal(adams, mine) and all(
        torch.equal(theirs[key], ours[key]) for key in ("exp_avg", "exp_avg_sq", "step")
    )


class _Step:
    """SB3's clip_grad_norm_ and optimizer.step() for gradients kept in one flat buffer.

    For SB3's Adam stepped by the fused kernel (use_fused_adam), the step calls that kernel
    directly, as Adam.step() does once it has grouped the tensors: for PPO's small networks
    Adam.step() and clip_grad_norm_ spent ~150 µs of Python per minibatch around a ~15 µs
    kernel. The same kernel on the same state: the same step (checked once per process:
    _direct_kernel_steps_as_adam). The norm is one kernel over the flat buffer (the same norm
    to float rounding). Any other optimizer, one with step hooks, one whose state is not made
    yet (the first step), or a torch whose kernel steps otherwise takes optimizer.step()."""

    def __init__(self, policy: ActorCriticPolicy) -> None:
        self.optimizer = policy.optimizer
        self.params = list(policy.parameters())
        self.flat = torch.zeros(sum(p.numel() for p in self.params))
        self.grads, offset = {}, 0
        for p in self.params:
            self.grads[p] = self.flat[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
        self._fused_group = self._fused_adam_group()
        self._kernel_args: tuple | None = None

    def step(self, max_grad_norm: float) -> None:
        norm = torch.linalg.vector_norm(self.flat).item()
        scale = max_grad_norm / (norm + 1e-6)
        if not scale >= 1.0:  # NaN too: clip_grad_norm_ spreads it, and so does this
            self.flat.mul_(scale)
        args = self._kernel_args or self._fused_kernel_args()
        if args is None:
            for p in self.params:
                p.grad = self.grads[p]
            self.optimizer.step()
            return
        _adam_kernel(*args)

    def _fused_adam_group(self) -> dict | None:
        """The param group, where Adam.step() would do nothing but hand it to its fused
        kernel; None where it does more. Decided once per update."""
        optimizer = self.optimizer
        if type(optimizer) is not torch.optim.Adam or len(optimizer.param_groups) != 1:
            return None
        (group,) = optimizer.param_groups
        if not group.get("fused") or not _direct_kernel_steps_as_adam():
            return None
        if _step_hooks(optimizer):
            return None  # optimizer.step() runs them (the crash tests' update fault is one)
        plain = ("amsgrad", "maximize", "capturable", "differentiable", "decoupled_weight_decay")
        if any(group.get(key) for key in plain) or isinstance(group["lr"], torch.Tensor):
            return None
        if {id(p) for p in group["params"]} != {id(p) for p in self.params}:
            return None
        return group

    def _fused_kernel_args(self) -> tuple | None:
        """What Adam.step() hands its fused kernel, once its first step made the state."""
        group = self._fused_group
        if group is None:
            return None
        state = self.optimizer.state
        params = group["params"]
        if any("step" not in state.get(p, {}) for p in params):
            return None  # the first step makes the state
        states = [state[p] for p in params]
        self._kernel_args = (
            params,
            [self.grads[p] for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["step"] for s in states],
            [torch.ones((), dtype=s["step"].dtype) for s in states],
            group,
        )
        return self._kernel_args


def actor(policy: ActorCriticPolicy):
    """act() for this policy, its layers looked up once (a rollout's worth of steps)."""
    return functools.partial(act, _Net(policy))


def act(net: _Net, obs, deterministic: bool = False):
    """ActorCriticPolicy.forward for a policy supports() accepts, the same operations in
    the same order (DiagGaussianDistribution's: std = ones * exp(log_std), Normal's
    rsample and log_prob), so the same actions, values and log-probabilities, bit for bit."""
    policy = net.policy
    x = _features(policy, obs)
    _, mean = net.forward(net.pi, policy.action_net, x)
    _, values = net.forward(net.vf, policy.value_net, x)
    if torch.isnan(mean).any():  # what Normal's argument check would have stopped
        raise ValueError("the policy's action mean is NaN: the update diverged")
    std = torch.ones_like(mean) * policy.log_std.exp()
    if deterministic:
        actions = mean
    else:
        actions = mean + torch.empty_like(mean).normal_() * std
    log_prob = (-((actions - mean) ** 2) / (2 * std**2) - std.log() - LOG_SQRT_2PI).sum(dim=1)
    return actions.reshape((-1, *policy.action_space.shape)), values, log_prob


@torch.no_grad()
def train(model: Any) -> None:
    """PPO.train for a model supports() accepts: the same samples in the same order, the same
    losses, early stop, optimizer step and logged values, to float rounding."""
    policy = model.policy
    policy.set_training_mode(True)
    model._update_learning_rate(policy.optimizer)
    clip_range = model.clip_range(model._current_progress_remaining)
    clip_range_vf = (
        model.clip_range_vf(model._current_progress_remaining)
        if model.clip_range_vf is not None
        else None
    )
    net, stepper = _Net(policy), _Step(policy)
    entropy_losses, pg_losses, value_losses, clip_fractions = [], [], [], []
    continue_training = True
    for epoch in range(model.n_epochs):
        approx_kl_divs = []
        for data in model.rollout_buffer.get(model.batch_size):
            losses = _minibatch(model, net, data, clip_range, clip_range_vf, stepper.grads)
            pg_losses.append(losses["policy"])
            clip_fractions.append(losses["clip_fraction"])
            value_losses.append(losses["value"])
            entropy_losses.append(losses["entropy"])
            approx_kl_divs.append(losses["approx_kl"])
            loss = losses["loss"]
            if model.target_kl is not None and losses["approx_kl"] > 1.5 * model.target_kl:
                continue_training = False
                if model.verbose >= 1:
                    print(f"Early stopping at step {epoch} due to reaching max kl: "
                          f"{losses['approx_kl']:.2f}")  # fmt: skip
                break
            stepper.step(model.max_grad_norm)
        model._n_updates += 1
        if not continue_training:
            break
    buffer = model.rollout_buffer
    explained_var = explained_variance(buffer.values.flatten(), buffer.returns.flatten())
    record = model.logger.record
    record("train/entropy_loss", np.mean(entropy_losses))
    record("train/policy_gradient_loss", np.mean(pg_losses))
    record("train/value_loss", np.mean(value_losses))
    record("train/approx_kl", np.mean(approx_kl_divs))
    record("train/clip_fraction", np.mean(clip_fractions))
    record("train/loss", loss)
    record("train/explained_variance", explained_var)
    record("train/std", torch.exp(policy.log_std).mean().item())
    record("train/n_updates", model._n_updates, exclude="tensorboard")
    record("train/clip_range", clip_range)
    if clip_range_vf is not None:
        record("train/clip_range_vf", clip_range_vf)


def _minibatch(
    model, net: _Net, data, clip_range: float, clip_range_vf: float | None, grads: dict
) -> dict:
    """PPO's losses of one minibatch; the gradient of their weighted sum goes into grads."""
    policy = net.policy
    x = _features(policy, data.observations)
    actions = data.actions
    pi_hidden, mean = net.forward_for_update(net.pi, policy.action_net, x)
    vf_hidden, values = net.forward_for_update(net.vf, policy.value_net, x)
    values = values.flatten()
    log_std = policy.log_std
    inv_var = torch.exp(-2 * log_std)
    diff = actions - mean
    log_prob = (-(diff * diff) * (0.5 * inv_var) - log_std - LOG_SQRT_2PI).sum(1)
    entropy_each = (0.5 + LOG_SQRT_2PI + log_std).sum()  # the same for every sample
    n = len(log_prob)
    advantages = data.advantages
    if model.normalize_advantage and n > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_ratio = log_prob - data.old_log_prob
    ratio = torch.exp(log_ratio)
    surrogate = advantages * ratio
    clipped = advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = -torch.min(surrogate, clipped).mean()
    if clip_range_vf is None:
        values_pred, value_mask = values, None
    else:
        change = values - data.old_values
        values_pred = data.old_values + torch.clamp(change, -clip_range_vf, clip_range_vf)
        value_mask = (change >= -clip_range_vf) & (change <= clip_range_vf)
    value_error = values_pred - data.returns
    value_loss = (value_error * value_error).mean()
    entropy_loss = -entropy_each
    loss = policy_loss + model.ent_coef * entropy_loss + model.vf_coef * value_loss
    approx_kl = torch.mean((ratio - 1) - log_ratio).cpu().numpy()

    # The gradient: min() passes it to the unclipped term where that is the smaller (ties
    # included: there clamp passes it through too), log_prob's to the mean and log_std.
    d_log_prob = torch.where(surrogate <= clipped, surrogate, 0.0) * (-1.0 / n)
    d_mean = d_log_prob[:, None] * diff * inv_var
    d_log_std = d_log_prob[:, None] * (diff * diff * inv_var - 1)
    torch.sum(d_log_std, 0, out=grads[log_std]).sub_(model.ent_coef)
    d_values = value_error * (2.0 * model.vf_coef / n)
    if value_mask is not None:
        d_values = d_values * value_mask
    net.backward(net.pi, policy.action_net, pi_hidden, d_mean, grads)
    net.backward(net.vf, policy.value_net, vf_hidden, d_values[:, None], grads)
    return {
        "policy": policy_loss.item(),
        "clip_fraction": torch.mean((torch.abs(ratio - 1) > clip_range).float()).item(),
        "value": value_loss.item(),
        "entropy": entropy_loss.item(),
        "loss": loss.item(),
        "approx_kl": approx_kl,
    }
