"""Meta-learning algorithms as short functions over the one inner loop (`meta.inner.adapt`).

Each function takes the meta-parameters `params` (leaf tensors with requires_grad) and a
meta-batch of tasks, and leaves the outer gradient in `p.grad`; an ordinary optimizer steps.
  - maml / fomaml: grad of the query loss after adaptation (second order, or first order with the
    straight-through trick theta + stopgrad(theta' - theta)), Finn et al. 2017;
  - reptile: pseudo-gradient mean_i(theta - theta'_i), Nichol et al. 2018 (FIGR's trick);
  - joint: plain DDPM on pooled images (transfer-learning baseline); autodecoder: the same with a
    learned context per training character (a warm start for context adaptation).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from dataclasses import dataclass, replace

from .inner import InnerConfig, adapt, adapted_keys, initial
from .model import CONTEXT, denoising_loss

ALGOS = ("reptile", "fomaml", "maml", "joint", "autodecoder")
META_ALGOS = ("reptile", "fomaml", "maml")  # trained with an outer loop through (or around) the inner loop
DESCRIPTIONS = {
    "maml": "meta-learned (second-order MAML: the outer loop differentiates through the inner loop)",
    "fomaml": "meta-learned (first-order MAML: the outer loop runs through the inner loop)",
    "reptile": "meta-learned (Reptile: the outer loop moves the start toward each task's adapted weights)",
    "autodecoder": "trained with a code per character (auto-decoder; no outer loop through adaptation)",
    "joint": "ordinary DDPM (no outer loop)",
    "scratch": "untrained (random weights)",
}


def meta_learned(record: dict) -> bool:
    """Whether a checkpoint was trained through its inner loop: its training.json says so, or its algorithm does."""
    if "meta_learned" in record:
        return bool(record["meta_learned"])
    return record.get("algo") in META_ALGOS


def describe(record: dict) -> str:
    """How a checkpoint was trained, in words (the studio and the README use these)."""
    return DESCRIPTIONS.get(record.get("algo"), f"trained with {record.get('algo')!r}")


@dataclass
class OuterConfig:
    """What the outer loop of (FO)MAML optimises (meta.train's --outer-* flags)."""

    t_min: int = 0  # the query loss samples timesteps in [t_min, t_max)
    t_max: int = 1000
    # "last": the query loss after all inner steps; "random": after k ~ U{1..inner_steps} steps, a new k
    # every outer iteration, so every step count of the live loop is trained (MAML++'s multi-step loss, sampled)
    steps: str = "last"
    joint_weight: float = 0.0  # weight of the auto-decoder's own denoising loss mixed into the outer objective

    def validate(self) -> "OuterConfig":
        if not 0 <= self.t_min < self.t_max <= 1000:
            raise ValueError(f"need 0 <= outer t_min < t_max <= 1000, got {self.t_min}, {self.t_max}")
        if self.steps not in ("last", "random"):
            raise ValueError(f"outer steps must be 'last' or 'random', not {self.steps!r}")
        if not self.joint_weight >= 0:
            raise ValueError(f"joint_weight must be >= 0, got {self.joint_weight}")
        return self


def random_noise(x0: torch.Tensor, num_timesteps: int, gen: torch.Generator | None = None, band: tuple[int, int] | None = None):
    lo, hi = band if band is not None else (0, num_timesteps)
    t = torch.randint(lo, hi, x0.shape[:-3], generator=gen).to(x0.device)
    eps = torch.randn(x0.shape, generator=gen).to(x0.device, x0.dtype)
    return t, eps


# noise bands of the query loss: low noise (detail), middle, high noise (where the shape is decided)
BANDS = {"low": (0, 300), "mid": (300, 700), "high": (700, 1000)}


def fixed_query_noise(query: torch.Tensor, seed: int = 1234, band: tuple[int, int] = (0, 1000)):
    """Timesteps spread evenly over `band` and fixed noise, so query losses compare across checkpoints."""
    gen = torch.Generator().manual_seed(seed)
    n = query.shape[:-3].numel()
    lo, width = band[0], band[1] - band[0]
    t = (lo + torch.arange(n) * width // n + torch.randint(0, max(width // n, 1), (n,), generator=gen)).clamp(max=band[1] - 1)
    t = t[torch.randperm(n, generator=gen)].reshape(query.shape[:-3])
    return t.to(query.device), torch.randn(query.shape, generator=gen).to(query.device, query.dtype)


def _standard_layout(params: dict) -> dict:
    """Contiguous (NCHW) copies of channels-last weights: torch.func.vmap cannot clone channels-last tensors."""
    return {k: v.clone(memory_format=torch.contiguous_format) if v.dim() == 4 else v for k, v in params.items()}


def per_task_contexts(params: dict, n_tasks: int) -> dict:
    """Give each of n_tasks its own copy of the context (still differentiable to the shared one)."""
    ctx = params[CONTEXT]
    return {**params, CONTEXT: ctx.expand(n_tasks, *ctx.shape)}


def _query_loss_after_adapt(unet, params, support, query, alphas_cumprod, cfg: InnerConfig, gen, outer: OuterConfig | None = None):
    """Adapt on support, then the denoising loss on query (summed over tasks when batched)."""
    outer = outer or OuterConfig()
    seed = int(torch.randint(0, 2**30, (1,), generator=gen))
    start = initial(unet, params, support, cfg)
    # "random": the query loss after k ~ U{1..inner_steps} steps, one k per outer iteration
    k = int(torch.randint(1, cfg.inner_steps + 1, (1,), generator=gen)) if outer.steps == "random" else cfg.inner_steps
    adapted = adapt(unet, params, support, alphas_cumprod, cfg, seed=seed, steps=k)
    if cfg.first_order:  # straight-through: the query gradient at theta' is applied to theta
        adapted = {k: start[k] + (adapted[k] - start[k]).detach() if k in adapted_keys(params, cfg.adapt) else start[k]
                   for k in start}
    t, eps = random_noise(query, len(alphas_cumprod), gen, (outer.t_min, outer.t_max))
    return denoising_loss(unet, adapted, alphas_cumprod, query, t, eps)


def maml_step(unet, params, support, query, alphas_cumprod, cfg: InnerConfig, gen, vmap: bool = False,
              outer: OuterConfig | None = None) -> float:
    """(FO)MAML: accumulate grad of the mean query loss over the meta-batch into p.grad.

    support/query: (T, N, C, H, W). Context adaptation runs the T tasks in one batched pass;
    full-parameter adaptation loops over tasks, or maps them with torch.func.vmap.
    """
    n_tasks = support.shape[0]
    outer = outer or OuterConfig()
    if cfg.adapt == "context":
        loss = _query_loss_after_adapt(unet, per_task_contexts(params, n_tasks), support, query, alphas_cumprod, cfg, gen, outer) / n_tasks
        loss.backward()
        return float(loss.detach())
    if vmap:  # noise comes from explicit generators: plain (unbatched) tensors inside vmap
        seed = int(torch.randint(0, 2**30, (1,), generator=gen))

        def task_grad(s, q):
            return torch.func.grad_and_value(
                lambda p: _query_loss_after_adapt(unet, _standard_layout(p), s, q, alphas_cumprod, cfg,
                                                  torch.Generator().manual_seed(seed), outer))(params)

        grads, losses = torch.func.vmap(task_grad, randomness="same")(support, query)
        for k, p in params.items():
            p.grad = grads[k].mean(0) if p.grad is None else p.grad + grads[k].mean(0)
        return float(losses.detach().mean())
    total = 0.0
    for i in range(n_tasks):
        loss = _query_loss_after_adapt(unet, params, support[i], query[i], alphas_cumprod, cfg, gen, outer) / n_tasks
        loss.backward()
        total += float(loss.detach())
    return total


def reptile_step(unet, params, support, query, alphas_cumprod, cfg: InnerConfig, gen, vmap: bool = False) -> float:
    """Reptile: p.grad = mean over tasks of (theta - theta'), theta' adapted on support + query."""
    if cfg.adapt == "context":
        raise ValueError("reptile adapts weights (adapt='all' or 'weights'); for context adaptation use fomaml or maml")
    data = torch.cat([support, query], dim=1)  # Reptile trains on all of a task's examples
    detached = {k: v.detach() for k, v in params.items()}
    cfg = replace(cfg, first_order=True)
    if vmap:
        seed = int(torch.randint(0, 2**30, (1,), generator=gen))
        detached = _standard_layout(detached)
        adapted = torch.func.vmap(lambda d: adapt(unet, detached, d, alphas_cumprod, cfg, seed=seed), randomness="same")(data)
        deltas = {k: (detached[k] - adapted[k]).mean(0) for k in adapted_keys(params, cfg.adapt)}
    else:
        deltas = {k: torch.zeros_like(v) for k, v in detached.items() if k in adapted_keys(params, cfg.adapt)}
        for i in range(data.shape[0]):
            adapted = adapt(unet, detached, data[i], alphas_cumprod, cfg, seed=int(torch.randint(0, 2**30, (1,), generator=gen)))
            for k in deltas:
                deltas[k] += (detached[k] - adapted[k]) / data.shape[0]
    for k, d in deltas.items():
        params[k].grad = d if params[k].grad is None else params[k].grad + d
    with torch.no_grad():
        t, eps = fixed_query_noise(query)  # the loss is summed over tasks: log the mean
        return float(denoising_loss(unet, detached, alphas_cumprod, query, t, eps)) / query.shape[0]


def joint_step(unet, params, images, alphas_cumprod, gen, table=None, chars=None, p_null: float = 0.1,
               null: torch.Tensor | None = None, weight: float = 1.0) -> float:
    """Plain DDPM on a batch of images (B, C, H, W). With a context `table` (autodecoder), image i
    is conditioned on table[chars[i]], or on the null context (default: params' own) with probability
    p_null. The gradient of `weight` x the loss is accumulated (a term of a larger objective)."""
    t, eps = random_noise(images, len(alphas_cumprod), gen)
    if table is not None:
        null = params[CONTEXT] if null is None else null
        use_null = (torch.rand(len(images), generator=gen) < p_null).to(images.device)
        ctx = torch.where(use_null[:, None, None, None], null.expand(len(images), -1, -1, -1), table[chars])
        params = {**params, CONTEXT: ctx}
    loss = denoising_loss(unet, params, alphas_cumprod, images, t, eps)
    (loss * weight if weight != 1.0 else loss).backward()
    return float(loss.detach())


@torch.no_grad()
def query_loss(unet, params, alphas_cumprod, query: torch.Tensor, seed: int = 1234, band: tuple[int, int] = (0, 1000)) -> torch.Tensor:
    """Per-task denoising loss on query drawings at fixed (t, eps), t spread over `band`: (T,) for query (T, Q, C, H, W)."""
    t, eps = fixed_query_noise(query, seed, band)
    return torch.stack([denoising_loss(unet, {**params, CONTEXT: params[CONTEXT][i]} if CONTEXT in params and params[CONTEXT].dim() == 4 else params,
                                       alphas_cumprod, query[i], t[i], eps[i]) for i in range(query.shape[0])])
