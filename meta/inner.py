"""The inner loop: the one place in the codebase where a generator adapts to a task.

`adapt_steps(...)` is a pure function of a parameter dict: it runs `inner_steps` of SGD or Adam
on the support set's denoising loss and yields the parameters after every step, so the app can
stream from it, evaluation can measure after any step, and meta-training can differentiate through
it. Gradients come from `torch.func.grad`, so the same code runs under `torch.func.vmap` (a meta-
batch of tasks in parallel) and nests for second-order MAML. Notation (Finn et al. 2017):
inner_lr -> alpha, inner_steps -> k, support -> D^tr, query -> D^val.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from .graphs import captured_step
from .model import CONTEXT, denoising_loss

ADAPT_CHOICES = ("context", "all", "weights")
INIT_CHOICES = ("start", "template")


@dataclass
class InnerConfig:
    adapt: str = "context"  # which parameters the inner loop changes: context | all | weights
    inner_steps: int = 10
    inner_lr: float = 0.1
    optimizer: str = "adam"  # adam (beta1=0.9, beta2=0.999) | sgd
    shots: int = 5
    t_min: int = 0  # the support loss samples timesteps in [t_min, t_max)
    t_max: int = 1000
    noise_draws: int = 1  # noisy copies of each support image per step
    first_order: bool = True
    # where the context starts: "start" = the checkpoint's start context; "template" = the same with its
    # sketch channel(s) set to the support's pooled mean drawing (a semi-amortised start, as in LEO)
    init_context: str = "start"

    @classmethod
    def from_record(cls, record: dict, **overrides) -> "InnerConfig":
        """A checkpoint's inner loop from its training.json record (defaults where it says nothing),
        with `overrides` on top (None ones ignored), checked: bad values raise ValueError."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(**{**asdict(cls()), **record.get("inner", {}), **given}).validate()

    def validate(self) -> "InnerConfig":
        if self.adapt not in ADAPT_CHOICES:
            raise ValueError(f"adapt must be one of {ADAPT_CHOICES}, not {self.adapt!r}")
        if self.init_context not in INIT_CHOICES:
            raise ValueError(f"init_context must be one of {INIT_CHOICES}, not {self.init_context!r}")
        if self.init_context == "template" and self.adapt != "context":
            raise ValueError("init_context='template' writes the support into the context: it needs adapt='context'")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', not {self.optimizer!r}")
        if not 0 <= self.inner_steps <= 10_000:
            raise ValueError(f"inner_steps must be in 0..10000, got {self.inner_steps}")
        if not (self.inner_lr == self.inner_lr and 0 < self.inner_lr < 1e3):  # also rejects NaN
            raise ValueError(f"inner_lr must be a positive finite number below 1000, got {self.inner_lr}")
        if not 0 <= self.t_min < self.t_max <= 1000:
            raise ValueError(f"need 0 <= t_min < t_max <= 1000, got {self.t_min}, {self.t_max}")
        return self


@dataclass
class AdaptStep:
    step: int  # 1-based: the parameters after this many inner steps
    params: dict
    support_loss: torch.Tensor  # support loss *before* this step (the one differentiated), detached


def adapted_keys(params: dict, adapt: str) -> list[str]:
    if adapt == "context":
        if CONTEXT not in params:
            raise ValueError("adapt='context' needs a generator with a context map (ctx_channels > 0)")
        return [CONTEXT]
    if adapt == "weights":
        return [k for k in params if k != CONTEXT]
    return list(params)


def initial(unet, params: dict, support: torch.Tensor, cfg: InnerConfig) -> dict:
    """The parameters the inner loop starts from: `params`, or with cfg.init_context == "template" each task's
    sketch channel(s) set to its support's mean drawing average-pooled to the context's size.
    support (N, C, H, W) with a context (c, h, w), or (T, N, C, H, W) with contexts (T, c, h, w)."""
    if cfg.init_context == "start":
        return params
    if CONTEXT not in params or getattr(unet, "sketch_abar", None) is None:
        raise ValueError("init_context='template' needs a generator with a sketch context (ctx_sketch)")
    ctx = params[CONTEXT]
    c = min(support.shape[-3], ctx.shape[-3])
    mean = support.mean(-4)  # (T?, C, H, W)
    pooled = F.adaptive_avg_pool2d(mean.reshape(-1, *mean.shape[-3:]), ctx.shape[-2:]).reshape(*mean.shape[:-2], *ctx.shape[-2:])
    ctx = torch.cat([pooled[..., :c, :, :].to(ctx).expand(*ctx.shape[:-3], c, *ctx.shape[-2:]), ctx[..., c:, :, :]], dim=-3)
    return {**params, CONTEXT: ctx}


def support_noise(support: torch.Tensor, cfg: InnerConfig, step: int, seed: int):
    """Fixed (t, eps) for one inner step: the same seed gives the same inner loop, bit for bit."""
    gen = torch.Generator().manual_seed(seed * 100_003 + step)
    shape = (*support.shape[:-4], support.shape[-4] * cfg.noise_draws)  # (T?, N * draws)
    t = torch.randint(cfg.t_min, cfg.t_max, shape, generator=gen)
    eps = torch.randn((*shape, *support.shape[-3:]), generator=gen)
    return t.to(support.device), eps.to(support.device, support.dtype)


def _eager_ok(cfg: InnerConfig) -> bool:
    """First-order steps outside any torch.func transform take their gradient from plain autograd:
    the same numbers as torch.func.grad, in fewer operator calls (README, "Speed")."""
    # torch.func keeps a stack of active transforms (private API: where it is missing, keep torch.func)
    peek = getattr(getattr(torch._C, "_functorch", None), "peek_interpreter_stack", None)
    outside = peek is not None and peek() is None
    return cfg.first_order and outside and not torch.is_inference_mode_enabled()


def _eager_grad_and_value(loss_fn):
    def grad_and_value(fast: dict, *args):
        with torch.enable_grad():  # like torch.func.grad, ignore an outer no_grad
            leaves = {k: v.detach().requires_grad_(True) for k, v in fast.items()}
            loss, aux = loss_fn(leaves, *args)
            grads = torch.autograd.grad(loss, list(leaves.values()))
        return dict(zip(leaves, grads)), (loss.detach(), aux)
    return grad_and_value


BETA1, BETA2, EPS_ADAM = 0.9, 0.999, 1e-8  # Adam's moment decays and epsilon


def _per_task(value, like: torch.Tensor):
    """A number (or a 0-dim tensor) as it is; one number per task, (T,), as a (T, 1, ..., 1) tensor that
    broadcasts over `like`."""
    if isinstance(value, (int, float)) or (torch.is_tensor(value) and value.dim() == 0):
        return value
    return torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1, *[1] * (like.dim() - 1))


def support_loss_grad(unet, params: dict, support: torch.Tensor, alphas_cumprod: torch.Tensor, cfg: InnerConfig):
    """-> (fast, frozen, grad_and_loss): the adapted parameters, the others, and
    grad_and_loss(fast, t, eps) -> (grads, (summed loss, each task's loss)) of the support's denoising loss."""
    keys = adapted_keys(params, cfg.adapt)
    fast = {k: params[k] for k in keys}
    frozen = {k: v for k, v in params.items() if k not in fast}
    x0 = support.repeat_interleave(cfg.noise_draws, dim=-4) if cfg.noise_draws > 1 else support

    def support_loss(fast_params, t, eps):  # the sum over tasks of each task's mean: task i's gradient is its own
        per_task = denoising_loss(unet, {**frozen, **fast_params}, alphas_cumprod, x0, t, eps, reduce_tasks=False)
        return per_task.sum(), per_task.detach()

    eager = _eager_ok(cfg)
    grad_and_loss = _eager_grad_and_value(support_loss) if eager else torch.func.grad_and_value(support_loss, has_aux=True)
    return fast, frozen, grad_and_loss


def inner_update(grad_and_loss, cfg: InnerConfig, fast: dict, m: dict, v2: dict, t, eps, bc1, bc2, inner_lr=None):
    """One inner step from `fast` with Adam moments (m, v2): -> (fast, m, v2, each task's support loss before the step).

    bc1 = 1 - beta1^step and bc2 = 1 - beta2^step are Adam's bias corrections (numbers, 0-dim tensors in a
    captured graph, where they change from call to call, or one per task); inner_lr (default cfg.inner_lr,
    alpha) may be one per task too. Pure: nothing is changed in place."""
    alpha = cfg.inner_lr if inner_lr is None else inner_lr
    # 1. denoising loss on the support set at fixed (t, eps) and its gradient
    grads, (_, loss) = grad_and_loss(fast, t, eps)
    # 2. one optimizer step, written out so it stays differentiable for second-order MAML
    if cfg.optimizer == "sgd":
        return {k: p - _per_task(alpha, p) * grads[k] for k, p in fast.items()}, m, v2, loss
    m = {k: BETA1 * m[k] + (1 - BETA1) * grads[k] for k in fast}
    v2 = {k: BETA2 * v2[k] + (1 - BETA2) * grads[k] * grads[k] for k in fast}
    # sqrt(v_hat + eps^2), not sqrt(v_hat) + eps: the same step wherever a gradient is not ~0, and
    # differentiable at an exactly-zero gradient (sqrt's derivative at 0 gives second-order MAML NaNs)
    return {k: p - _per_task(alpha, p) * (m[k] / _per_task(bc1, p)) / (v2[k] / _per_task(bc2, p) + EPS_ADAM**2).sqrt()
            for k, p in fast.items()}, m, v2, loss


def inner_step(unet, params: dict, support: torch.Tensor, alphas_cumprod: torch.Tensor, cfg: InnerConfig,
               t: torch.Tensor, eps: torch.Tensor, *, step, moments: dict | None = None, inner_lr=None):
    """One inner step as `adapt_steps` takes it (`inner_update`), from a whole parameter dict: the support
    loss at fixed (t, eps) (`support_noise`), its gradient, and one SGD or Adam update of the adapted
    parameters. Pure: returns (params, moments, loss), with Adam's moments {name: (m, v2)} to pass into the
    next step (None before the first, and for SGD) and the loss before the update.

    For T tasks in one batch (adapt='context'): support (T, N, C, H, W), params[CONTEXT] (T, c, h, w), t and
    eps stacked per task; `step` (1-based) and `inner_lr` may then be one per task, (T,) (tasks that started
    at different times, with their own learning rates), and the loss is each task's own, (T,). A task's
    numbers do not depend on the other tasks in its batch.
    """
    fast, frozen, grad_and_loss = support_loss_grad(unet, params, support, alphas_cumprod, cfg)
    if cfg.first_order:
        fast = {k: p.detach() for k, p in fast.items()}
    bc1 = 1 - BETA1**step if isinstance(step, int) else [1 - BETA1**s for s in step]
    bc2 = 1 - BETA2**step if isinstance(step, int) else [1 - BETA2**s for s in step]
    moments = moments or {k: (torch.zeros_like(p), torch.zeros_like(p)) for k, p in fast.items()}
    m, v2 = {k: moments[k][0] for k in fast}, {k: moments[k][1] for k in fast}
    fast, m, v2, loss = inner_update(grad_and_loss, cfg, fast, m, v2, t, eps, bc1, bc2, inner_lr)
    new_moments = None if cfg.optimizer == "sgd" else {k: (m[k], v2[k]) for k in fast}
    return {**frozen, **fast}, new_moments, loss


def adapt_steps(unet, params: dict, support: torch.Tensor, alphas_cumprod: torch.Tensor, cfg: InnerConfig,
                *, seed: int = 0, steps: int | None = None, graphs: bool = False, backend=None) -> Iterator[AdaptStep]:
    """Yield the adapted parameters after each of `steps` (default cfg.inner_steps) inner steps.

    support: (N, C, H, W) for one task, or (T, N, C, H, W) for T tasks adapted together (only for
    adapt='context', where each task owns its context: params[CONTEXT] then has shape (T, c, h, w)).
    With cfg.first_order the yielded parameters carry no graph back to `params`.
    With `graphs` (first-order steps on CUDA) the step is captured once as a CUDA graph and replayed
    (`meta.graphs`; `backend` replaces CUDA's for tests); where it cannot be, the steps run eagerly.
    """
    steps = cfg.inner_steps if steps is None else steps
    params = initial(unet, params, support, cfg)
    fast, frozen, grad_and_loss = support_loss_grad(unet, params, support, alphas_cumprod, cfg)
    update = functools.partial(inner_update, grad_and_loss, cfg)
    m = {k: torch.zeros_like(v) for k, v in fast.items()}  # Adam's first moment
    v2 = {k: torch.zeros_like(v) for k, v in fast.items()}  # Adam's second moment
    captured = None
    if graphs and _eager_ok(cfg) and steps > 0:  # shapes are fixed for the whole loop: capture its step once
        t, eps = support_noise(support, cfg, 1, seed)
        fast = {k: p.detach() for k, p in fast.items()}
        captured = captured_step(update, (fast, m, v2), (t, eps, 1.0, 1.0), backend)
        update = captured or update
    for step in range(1, steps + 1):
        if cfg.first_order:
            fast = {k: p.detach() for k, p in fast.items()}
        t, eps = support_noise(support, cfg, step, seed)
        fast, m, v2, loss = update(fast, m, v2, t, eps, 1 - BETA1**step, 1 - BETA2**step)
        # a captured step's results are its graph's buffers, overwritten by the next step: yield copies
        out, loss = ({k: p.clone() for k, p in fast.items()}, loss.clone()) if captured else (fast, loss)
        yield AdaptStep(step, {**frozen, **out}, loss.sum().detach())  # T tasks: the sum of their losses, the one differentiated


def adapt(unet, params, support, alphas_cumprod, cfg: InnerConfig, **kw) -> dict:
    """The parameters after all inner steps (the last item of `adapt_steps`)."""
    result = params
    for result_step in adapt_steps(unet, params, support, alphas_cumprod, cfg, **kw):
        result = result_step.params
    return result
