"""CUDA graphs for the live loop (meta.graphs): on the CPU, with `Rerun` standing in for a GPU's graphs,
the plumbing (static buffers, state kept in the graph, outputs overwritten by the next call) gives
the eager numbers; on a GPU (skipped without one) the captured loop gives the eager frames."""
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from meta.graphs import Rerun, capture, captured_step
from meta.inner import InnerConfig, adapt_steps
from meta.model import CONTEXT, GeneratorConfig, build_unet, init_params, scheduler
from meta.sampling import Guidance, captured_sampler, fixed_noise, sample

SMALL = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=2, ctx_size=8, ctx_sketch=True)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    unet = build_unet(SMALL, seed=0).requires_grad_(False)
    params = {k: v.detach() for k, v in init_params(unet, SMALL).items()}
    params[CONTEXT] = torch.randn(2, 8, 8) * 0.1
    support = torch.rand(3, 1, 32, 32) * 2 - 1
    return unet, params, support, scheduler(SMALL).alphas_cumprod


def test_a_captured_step_keeps_its_state_in_its_buffers_and_overwrites_its_outputs():
    def step(x, m, t, scale):  # -> (new x, new m, out)
        return {"a": x["a"] + t * scale}, m * 2, (x["a"] * t).sum()

    x, m = {"a": torch.ones(3)}, torch.ones(2)
    call = captured_step(step, (x, m), (torch.zeros(3), 1.0), Rerun())
    ex, em, outs = x, m, []
    for i in range(1, 4):
        t = torch.full((3,), float(i))
        ex, em, eout = step(ex, em, t, 0.5)
        x, m, out = call(x, m, t, 0.5)
        assert torch.equal(x["a"], ex["a"]) and torch.equal(m, em) and torch.equal(out, eout)
        outs.append(out)
    assert outs[0] is outs[-1]  # one output buffer, overwritten by every call: callers clone what they keep
    assert x["a"] is call(x, m, t, 0.5)[0]["a"]  # the state comes back as the same buffers (nothing copied)
    with pytest.raises(ValueError, match="captured for arguments shaped"):
        call(x, m, t)


def test_capture_needs_cuda_tensors_or_a_backend_and_says_why_it_fails():
    assert capture(lambda x: x * 2, (torch.ones(2),)) is None  # CPU tensors, no backend: run eagerly

    def fails(x):
        raise RuntimeError("operation not permitted when stream is capturing")

    with pytest.warns(RuntimeWarning, match="capture failed, running eagerly: RuntimeError: operation not permitted"):
        assert capture(fails, (torch.ones(2),), Rerun()) is None


@pytest.mark.parametrize("adapt, optimizer, inner_lr", [("context", "adam", 0.1), ("all", "sgd", 0.05), ("all", "adam", 1e-3)])
def test_the_captured_inner_loop_gives_the_eager_steps(tiny, adapt, optimizer, inner_lr):
    unet, params, support, ac = tiny
    cfg = InnerConfig(adapt=adapt, optimizer=optimizer, inner_lr=inner_lr, inner_steps=4, noise_draws=2, t_min=100)
    eager = list(adapt_steps(unet, params, support, ac, cfg, seed=3))
    graphed = list(adapt_steps(unet, params, support, ac, cfg, seed=3, graphs=True, backend=Rerun()))
    assert [s.step for s in graphed] == [1, 2, 3, 4]
    for e, g in zip(eager, graphed, strict=True):  # every step's parameters, kept: none overwritten later
        # float tolerance: a captured step keeps its buffers' memory layout, where the eager loop's 1x1
        # conv weights drift between two equivalent layouts, and convolutions round differently on each
        assert torch.allclose(e.support_loss, g.support_loss, rtol=1e-6)
        assert all(torch.allclose(e.params[k], g.params[k], rtol=1e-5, atol=1e-6) for k in e.params)
        if adapt == "context":  # nothing else changes: the same numbers
            assert torch.equal(e.params[CONTEXT], g.params[CONTEXT])
    assert not torch.equal(eager[0].params[CONTEXT if adapt == "context" else "conv_in.weight"],
                           eager[-1].params[CONTEXT if adapt == "context" else "conv_in.weight"])  # it adapted
    # without CUDA and without a stand-in, graphs=True runs the eager loop
    plain = list(adapt_steps(unet, params, support, ac, cfg, seed=3, graphs=True))
    assert all(torch.equal(e.params[k], p.params[k]) for e, p in zip(eager, plain) for k in e.params)


def test_second_order_steps_are_never_captured(tiny):
    unet, params, support, ac = tiny
    cfg = InnerConfig(adapt="context", inner_steps=2, first_order=False)
    ctx = params[CONTEXT].clone().requires_grad_(True)
    last = list(adapt_steps(unet, {**params, CONTEXT: ctx}, support, ac, cfg, graphs=True, backend=Rerun()))[-1]
    (grad,) = torch.autograd.grad(last.params[CONTEXT].sum(), ctx)  # still differentiable through the steps
    assert grad.abs().sum() > 0


def test_the_captured_preview_gives_the_eager_samples(tiny):
    unet, params, support, ac = tiny
    noise = fixed_noise(4, SMALL, seed=1)
    guidance = Guidance(2.0, torch.zeros(2, 8, 8), t_min=500)
    kw = dict(steps=5, guidance=guidance)
    preview = captured_sampler(unet, params, noise, SMALL, [CONTEXT], backend=Rerun(), **kw)
    contexts = [params[CONTEXT], params[CONTEXT] + 0.3, params[CONTEXT] - 0.2]
    got = [preview({**params, CONTEXT: c}) for c in contexts]
    for c, x in zip(contexts, got, strict=True):  # each result its own tensor: none overwritten by the next call
        assert torch.allclose(x, sample(unet, {**params, CONTEXT: c}, noise, SMALL, **kw), atol=1e-6)
    assert not torch.equal(got[0], got[1])
    # adapted weights are copied in at every call
    weights = captured_sampler(unet, params, noise, SMALL, list(params), backend=Rerun(), **kw)
    moved = {k: v * 1.01 for k, v in params.items()}
    assert torch.allclose(weights(moved), sample(unet, moved, noise, SMALL, **kw), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_graphed_live_loop_draws_the_eager_frames():
    """The shipped default and the joint baseline, each lane with its probe, eager and graphed on CUDA."""
    from pathlib import Path

    from demo.runtime.engine import Lane, Settings, adapt_live
    from meta.checkpoint import Generator
    from meta.glyphs import glyph_set

    assets = Path(__file__).resolve().parents[1] / "assets"
    lanes = {}
    for lane, name in (("meta", "glyphs-autodecoder"), ("baseline", "glyphs-joint")):
        g = Generator.load(assets / name, "cuda")
        g.unet.requires_grad_(False)
        lanes[lane] = Lane(g, InnerConfig.from_record(g.record, first_order=True))
    shots = list(glyph_set(1, 5, first=500).images[0])
    settings = Settings(inner_steps=5, samples=6, sampler_steps=8)
    eager = list(adapt_live(lanes, shots, replace(settings, graphs=False)))
    with warnings.catch_warnings():  # a capture that fails (and falls back to eager) fails this test
        warnings.filterwarnings("error", message="CUDA graph capture failed")
        graphed = list(adapt_live(lanes, shots, settings))
    for e, g in zip(eager, graphed, strict=True):
        for lane in e.samples:  # uint8 grids; the graphed preview recomputes what the eager one memoises
            diff = np.abs(e.samples[lane].astype(int) - g.samples[lane].astype(int))
            assert diff.max() <= 3 and diff.mean() < 0.05, (lane, e.step, diff.max(), diff.mean())
        assert e.support_loss.keys() == g.support_loss.keys()
        for lane in e.support_loss:
            assert abs(e.support_loss[lane] - g.support_loss[lane]) <= 1e-4 * max(1.0, abs(e.support_loss[lane]))
