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

from .inner import InnerConfig, adapt, adapted_keys
from .model import CONTEXT, denoising_loss

ALGOS = ("reptile", "fomaml", "maml", "joint", "autodecoder")


def random_noise(x0: torch.Tensor, num_timesteps: int, gen: torch.Generator | None = None):
    t = torch.randint(0, num_timesteps, x0.shape[:-3], generator=gen).to(x0.device)
    eps = torch.randn(x0.shape, generator=gen).to(x0.device, x0.dtype)
    return t, eps


def fixed_query_noise(query: torch.Tensor, seed: int = 1234):
    """Evenly spread timesteps and fixed noise, so query losses compare across checkpoints."""
    gen = torch.Generator().manual_seed(seed)
    n = query.shape[:-3].numel()
    t = (torch.arange(n) * 1000 // n + torch.randint(0, max(1000 // n, 1), (n,), generator=gen)).clamp(max=999)
    t = t[torch.randperm(n, generator=gen)].reshape(query.shape[:-3])
    return t.to(query.device), torch.randn(query.shape, generator=gen).to(query.device, query.dtype)


def _standard_layout(params: dict) -> dict:
    """Contiguous (NCHW) copies of channels-last weights: torch.func.vmap cannot clone channels-last tensors."""
    return {k: v.clone(memory_format=torch.contiguous_format) if v.dim() == 4 else v for k, v in params.items()}


def per_task_contexts(params: dict, n_tasks: int) -> dict:
    """Give each of n_tasks its own copy of the context (still differentiable to the shared one)."""
    ctx = params[CONTEXT]
    return {**params, CONTEXT: ctx.expand(n_tasks, *ctx.shape)}


def _query_loss_after_adapt(unet, params, support, query, alphas_cumprod, cfg: InnerConfig, gen):
    """Adapt on support, then the denoising loss on query (summed over tasks when batched)."""
    adapted = adapt(unet, params, support, alphas_cumprod, cfg, seed=int(torch.randint(0, 2**30, (1,), generator=gen)))
    if cfg.first_order:  # straight-through: the query gradient at theta' is applied to theta
        adapted = {k: params[k] + (adapted[k] - params[k]).detach() if k in adapted_keys(params, cfg.adapt) else params[k]
                   for k in params}
    t, eps = random_noise(query, len(alphas_cumprod), gen)
    return denoising_loss(unet, adapted, alphas_cumprod, query, t, eps)


def maml_step(unet, params, support, query, alphas_cumprod, cfg: InnerConfig, gen, vmap: bool = False) -> float:
    """(FO)MAML: accumulate grad of the mean query loss over the meta-batch into p.grad.

    support/query: (T, N, C, H, W). Context adaptation runs the T tasks in one batched pass;
    full-parameter adaptation loops over tasks, or maps them with torch.func.vmap.
    """
    n_tasks = support.shape[0]
    if cfg.adapt == "context":
        loss = _query_loss_after_adapt(unet, per_task_contexts(params, n_tasks), support, query, alphas_cumprod, cfg, gen) / n_tasks
        loss.backward()
        return float(loss.detach())
    if vmap:  # noise comes from explicit generators: plain (unbatched) tensors inside vmap
        seed = int(torch.randint(0, 2**30, (1,), generator=gen))

        def task_grad(s, q):
            return torch.func.grad_and_value(
                lambda p: _query_loss_after_adapt(unet, _standard_layout(p), s, q, alphas_cumprod, cfg,
                                                  torch.Generator().manual_seed(seed)))(params)

        grads, losses = torch.func.vmap(task_grad, randomness="same")(support, query)
        for k, p in params.items():
            p.grad = grads[k].mean(0) if p.grad is None else p.grad + grads[k].mean(0)
        return float(losses.detach().mean())
    total = 0.0
    for i in range(n_tasks):
        loss = _query_loss_after_adapt(unet, params, support[i], query[i], alphas_cumprod, cfg, gen) / n_tasks
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
        t, eps = fixed_query_noise(query)
        return float(denoising_loss(unet, detached, alphas_cumprod, query, t, eps))


def joint_step(unet, params, images, alphas_cumprod, gen, table=None, chars=None, p_null: float = 0.1) -> float:
    """Plain DDPM on a batch of images (B, C, H, W). With a context `table` (autodecoder), image i
    is conditioned on table[chars[i]], or on the shared context with probability p_null."""
    t, eps = random_noise(images, len(alphas_cumprod), gen)
    if table is not None:
        use_null = (torch.rand(len(images), generator=gen) < p_null).to(images.device)
        ctx = torch.where(use_null[:, None, None, None], params[CONTEXT].expand(len(images), -1, -1, -1), table[chars])
        params = {**params, CONTEXT: ctx}
    loss = denoising_loss(unet, params, alphas_cumprod, images, t, eps)
    loss.backward()
    return float(loss.detach())


@torch.no_grad()
def query_loss(unet, params, alphas_cumprod, query: torch.Tensor, seed: int = 1234) -> torch.Tensor:
    """Per-task denoising loss on query drawings at fixed (t, eps): (T,) for query (T, Q, C, H, W)."""
    t, eps = fixed_query_noise(query, seed)
    return torch.stack([denoising_loss(unet, {**params, CONTEXT: params[CONTEXT][i]} if CONTEXT in params and params[CONTEXT].dim() == 4 else params,
                                       alphas_cumprod, query[i], t[i], eps[i]) for i in range(query.shape[0])])
