"""Numbers, not just "it runs": the inner loop, MAML, Reptile, the sampler and checkpoints."""
from dataclasses import asdict

import pytest
import torch

from meta.algorithms import maml_step, reptile_step
from meta.inner import InnerConfig, adapt, adapt_steps, support_noise
from meta.checkpoint import load_checkpoint, save_checkpoint
from meta.model import CONTEXT, GeneratorConfig, build_unet, denoising_loss, init_params, scheduler
from meta.sampling import fixed_noise, sample

TINY = GeneratorConfig(block_out_channels=(4, 8), norm_num_groups=4, sample_size=8, ctx_channels=2, ctx_size=4)


def tiny(dtype=torch.float32, config=TINY, seed=0):
    unet = build_unet(config, seed=seed).to(dtype)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in init_params(unet, config).items()}
    ctx = torch.randn(params[CONTEXT].shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    params[CONTEXT] = ctx.requires_grad_(True)
    return unet, params, scheduler(config).alphas_cumprod.to(dtype)


def images(n, tasks=None, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = ((tasks,) if tasks else ()) + (n, 1, 8, 8)
    return (torch.rand(shape, generator=g) * 2 - 1).to(dtype)


def test_one_inner_step_equals_hand_written_sgd():
    unet, params, ac = tiny()
    support = images(3)
    cfg = InnerConfig(adapt="all", inner_steps=1, inner_lr=0.05, optimizer="sgd", shots=3)
    adapted = adapt(unet, params, support, ac, cfg, seed=7)
    t, eps = support_noise(support, cfg, step=1, seed=7)
    loss = denoising_loss(unet, params, ac, support, t, eps)
    grads = torch.autograd.grad(loss, list(params.values()))
    for (name, p), g in zip(params.items(), grads):
        torch.testing.assert_close(adapted[name], p - 0.05 * g, rtol=1e-5, atol=1e-6)


def test_adam_inner_step_matches_torch_adam():
    unet, params, ac = tiny()
    support = images(3)
    cfg = InnerConfig(adapt="context", inner_steps=3, inner_lr=0.1, optimizer="adam", shots=3)
    ours = adapt(unet, params, support, ac, cfg, seed=3)[CONTEXT]
    ctx = params[CONTEXT].detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([ctx], lr=0.1)
    for step in range(1, 4):
        t, eps = support_noise(support, cfg, step, seed=3)
        opt.zero_grad()
        denoising_loss(unet, {**params, CONTEXT: ctx}, ac, support, t, eps).backward()
        opt.step()
    torch.testing.assert_close(ours, ctx.detach(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("adapt_what", ["all", "context"])
def test_maml_meta_gradient_matches_finite_differences(adapt_what, optimizer):
    """Second-order MAML in float64 against central differences, through SGD and through Adam (whose
    sqrt(v_hat) must stay differentiable where a gradient entry is exactly zero: the tiny model's
    time-embedding biases have such entries with adapt='all')."""
    unet, params, ac = tiny(torch.float64)
    support, query = images(2, tasks=2, dtype=torch.float64), images(3, tasks=2, dtype=torch.float64, seed=2)
    lr = {("all", "sgd"): 0.3, ("context", "sgd"): 2.0, ("all", "adam"): 1e-3, ("context", "adam"): 0.05}[adapt_what, optimizer]
    cfg = InnerConfig(adapt=adapt_what, inner_steps=2, inner_lr=lr, optimizer=optimizer, shots=2, first_order=False)

    def meta_loss(p):
        for v in p.values():
            v.grad = None
        return maml_step(unet, p, support, query, ac, cfg, torch.Generator().manual_seed(5))

    meta_loss(params)
    grads = {k: v.grad.clone() for k, v in params.items()}
    assert all(torch.isfinite(v).all() for v in grads.values()), [k for k, v in grads.items() if not torch.isfinite(v).all()]
    g = torch.Generator().manual_seed(0)  # a fixed direction: the check is reproducible
    direction = {k: torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in params.items()}
    h = 1e-6 if optimizer == "sgd" else 1e-9  # Adam's step g / sqrt(g^2 + eps^2) is steep where g ~ eps
    shifted = lambda s: {k: (v.detach() + s * h * direction[k]).requires_grad_(True) for k, v in params.items()}
    numeric = (meta_loss(shifted(1)) - meta_loss(shifted(-1))) / (2 * h)
    analytic = sum((grads[k] * direction[k]).sum() for k in params)
    assert abs(float(analytic) - numeric) < 1e-5 * max(1.0, abs(numeric)), (float(analytic), numeric)
    # and the second-order terms matter: first-order MAML gives a different gradient
    fo = InnerConfig(**{**asdict(cfg), "first_order": True})
    for v in params.values():
        v.grad = None
    maml_step(unet, params, support, query, ac, fo, torch.Generator().manual_seed(5))
    assert not torch.allclose(params[CONTEXT].grad, grads[CONTEXT])


def test_batched_context_adaptation_equals_per_task():
    unet, params, ac = tiny()
    support = images(3, tasks=4)
    cfg = InnerConfig(adapt="context", inner_steps=3, inner_lr=0.1, shots=3)
    batched = adapt(unet, {**params, CONTEXT: params[CONTEXT].expand(4, *params[CONTEXT].shape)}, support, ac, cfg, seed=1)
    for i in range(4):
        t, eps = support_noise(support, cfg, 1, 1)
        single_cfg = cfg
        one = {**params}
        # the batched loop draws (t, eps) per task from one generator: replay task i's slice by hand
        fast = params[CONTEXT].detach()
        m = v = torch.zeros_like(fast)
        for step in range(1, 4):
            t, eps = support_noise(support, single_cfg, step, 1)
            fast = fast.requires_grad_(True)
            loss = denoising_loss(unet, {**one, CONTEXT: fast}, ac, support[i], t[i], eps[i])
            (g,) = torch.autograd.grad(loss, [fast])
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
            fast = (fast - 0.1 * (m / (1 - 0.9**step)) / ((v / (1 - 0.999**step)).sqrt() + 1e-8)).detach()
        torch.testing.assert_close(batched[CONTEXT][i], fast, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("vmap", [False, True])
def test_reptile_pseudo_gradient_is_mean_of_theta_minus_adapted(vmap):
    unet, params, ac = tiny()
    support, query = images(2, tasks=3), images(2, tasks=3, seed=2)
    # SGD: Adam's m / sqrt(v) turns float noise in near-zero gradients into full-size steps
    cfg = InnerConfig(adapt="all", inner_steps=2, inner_lr=0.05, optimizer="sgd", shots=2)
    seed = int(torch.randint(0, 2**30, (1,), generator=torch.Generator().manual_seed(9)))
    reptile_step(unet, params, support, query, ac, cfg, torch.Generator().manual_seed(9), vmap=vmap)
    data = torch.cat([support, query], 1)
    expected = {k: torch.zeros_like(v) for k, v in params.items()}
    task_gen = torch.Generator().manual_seed(9)
    for i in range(3):
        task_seed = seed if vmap else int(torch.randint(0, 2**30, (1,), generator=task_gen))
        a = adapt(unet, {k: v.detach() for k, v in params.items()}, data[i], ac, cfg, seed=task_seed)
        for k in expected:
            expected[k] += (params[k].detach() - a[k]) / 3
    for k, p in params.items():
        torch.testing.assert_close(p.grad, expected[k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("first_order", [True, False])
def test_vmap_maml_equals_a_loop_over_tasks(first_order):
    from meta.algorithms import _query_loss_after_adapt

    unet, params, ac = tiny()
    support, query = images(2, tasks=3), images(2, tasks=3, seed=2)
    cfg = InnerConfig(adapt="all", inner_steps=2, inner_lr=0.05, optimizer="sgd", shots=2, first_order=first_order)
    maml_step(unet, params, support, query, ac, cfg, torch.Generator().manual_seed(4), vmap=True)
    vmapped = {k: v.grad.clone() for k, v in params.items()}
    # vmap gives every task the same noise seed (drawn once from the generator): loop with that seed
    seed = int(torch.randint(0, 2**30, (1,), generator=torch.Generator().manual_seed(4)))
    for v in params.values():
        v.grad = None
    for i in range(3):
        (_query_loss_after_adapt(unet, params, support[i], query[i], ac, cfg, torch.Generator().manual_seed(seed)) / 3).backward()
    for k, p in params.items():
        torch.testing.assert_close(vmapped[k], p.grad, rtol=1e-4, atol=1e-6)


def test_sampler_is_deterministic_and_in_range():
    unet, params, ac = tiny()
    noise = fixed_noise(4, TINY, seed=3)
    torch.testing.assert_close(noise, fixed_noise(4, TINY, seed=3))
    for sampler in ("ddim", "dpm"):
        a = sample(unet, params, noise, TINY, sampler=sampler, steps=4)
        b = sample(unet, params, fixed_noise(4, TINY, seed=3), TINY, sampler=sampler, steps=4)
        assert torch.equal(a, b) and a.shape == (4, 1, 8, 8) and a.abs().max() <= 1
    assert not torch.equal(a, sample(unet, params, fixed_noise(4, TINY, seed=4), TINY, sampler="dpm", steps=4))


def test_sampler_starts_from_the_marginal_around_the_prior_mean(monkeypatch):
    """With unet.prior_mean the first model call sees noise + sqrt(abar_t0) * mean; without one (or
    with a zero mean) it sees the noise itself."""
    from meta import sampling
    from meta.sampling import make_scheduler

    unet, params, _ = tiny()
    noise = fixed_noise(3, TINY, seed=5)
    seen = []
    real = sampling.predict_noise
    monkeypatch.setattr(sampling, "predict_noise", lambda u, p, x, t, net=None: (seen.append(x.clone()), real(u, p, x, t, net))[1])
    plain = sample(unet, params, noise, TINY, steps=4)
    unet.prior_mean = torch.zeros(1, 8, 8)
    assert torch.equal(plain, sample(unet, params, noise, TINY, steps=4))
    mean = torch.linspace(-1, 1, 64).reshape(1, 8, 8)
    unet.prior_mean = mean
    seen.clear()
    shifted = sample(unet, params, noise, TINY, steps=4)
    sched = make_scheduler(TINY, "dpm", 4)
    abar = sched.alphas_cumprod[int(sched.timesteps[0])]
    torch.testing.assert_close(seen[0], noise + abar.sqrt() * mean)
    assert not torch.equal(plain, shifted) and shifted.abs().max() <= 1


def test_frozen_sampling_net_matches_functional_call_and_applies_only_where_it_is_valid():
    """The compiled copy the sampler uses on CPU gives the same eps (batch, per-task contexts), is
    shared by copies of the module, rebuilt when the module's weights change in place, and refused
    for other weights or with autograd."""
    from meta.model import predict_noise
    from meta.preview_net import frozen_net
    cfg = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4, sample_size=16, ctx_channels=2, ctx_size=4, ctx_sketch=True)
    unet = build_unet(cfg).eval()
    params = {k: v.detach() for k, v in init_params(unet, cfg).items()}
    params[CONTEXT] = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))  # 3 tasks
    x_t, t = torch.randn(3, 5, 1, 16, 16, generator=torch.Generator().manual_seed(1)), torch.tensor(700)
    tt = t.expand(3, 5)
    assert frozen_net(unet, params) is None  # autograd on: never
    with torch.inference_mode():
        net = frozen_net(unet, params)
        assert net is not None and frozen_net(unet, params) is net  # built once, then cached
        import copy
        assert frozen_net(copy.deepcopy(unet), params) is net  # the studio's per-run module copy reuses it
        torch.testing.assert_close(predict_noise(unet, params, x_t, tt, net), predict_noise(unet, params, x_t, tt), rtol=1e-4, atol=1e-4)
        one = {**params, CONTEXT: params[CONTEXT][0]}  # one task, a shared context: (N, C, H, W)
        torch.testing.assert_close(predict_noise(unet, one, x_t[0], tt[0], net), predict_noise(unet, one, x_t[0], tt[0]), rtol=1e-4, atol=1e-4)
        other = {k: (v.clone() + 0.01 if k != CONTEXT else v) for k, v in params.items()}
        assert frozen_net(unet, other) is None  # adapted weights: the functional path
        assert frozen_net(unet, {k: v for k, v in params.items() if "conv_in" not in k}) is None
        before = predict_noise(unet, params, x_t, tt, net)
    with torch.no_grad():
        unet.conv_in.weight.add_(0.05)  # an optimizer step on the module itself (meta.train samples mid-training)
    with torch.inference_mode():
        rebuilt = frozen_net(unet, params)
        assert rebuilt is not net
        torch.testing.assert_close(predict_noise(unet, params, x_t, tt, rebuilt), predict_noise(unet, params, x_t, tt), rtol=1e-4, atol=1e-4)
        assert not torch.allclose(predict_noise(unet, params, x_t, tt, rebuilt), before, atol=1e-3)  # the new weights


def test_guidance_mixes_the_context_and_null_predictions_and_travels_with_the_checkpoint(tmp_path):
    """eps_null + w (eps_ctx - eps_null) from one batched call, per task; scale 1 is plain sampling;
    a checkpoint's training.json "sampling" turns it on for whoever loads it."""
    from meta.checkpoint import Generator
    from meta.model import predict_noise
    from meta.sampling import Guidance, guided_noise
    unet, params, _ = tiny()
    params = {k: v.detach() for k, v in params.items()}
    null = torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(3))
    per_task = {**params, CONTEXT: torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(4))}
    x, t = images(4, tasks=3), torch.full((3, 4), 600)
    with torch.no_grad():
        for p, xx, tt in ((per_task, x, t), (params, x[0], t[0])):
            cond, uncond = predict_noise(unet, p, xx, tt), predict_noise(unet, {**p, CONTEXT: null}, xx, tt)
            eps, null_eps = guided_noise(unet, p, xx, tt, Guidance(2.5, null))
            torch.testing.assert_close(eps, uncond + 2.5 * (cond - uncond), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(null_eps, uncond, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(guided_noise(unet, p, xx, tt, Guidance(2.5, null), uncond=uncond)[0], eps, rtol=1e-5, atol=1e-5)
    noise = fixed_noise(3, TINY, seed=2)
    plain = sample(unet, params, noise, TINY, steps=4)
    assert torch.equal(plain, sample(unet, params, noise, TINY, steps=4, guidance=Guidance(1.0, null)))
    assert torch.equal(plain, sample(unet, params, noise, TINY, steps=4, guidance=Guidance(3.0, null, t_min=999)))  # no step guided
    guided = sample(unet, params, noise, TINY, steps=4, guidance=Guidance(3.0, null))
    assert not torch.allclose(plain, guided)
    # a run's memo of the first step's null prediction: the same samples, for new contexts too, and
    # never reused for other noise or weights changed in place
    from meta.sampling import FirstStepMemo
    memo = FirstStepMemo()
    assert torch.equal(sample(unet, params, noise, TINY, steps=4, guidance=Guidance(3.0, null), memo=memo), guided)
    kept = memo._eps
    moved = {**params, CONTEXT: params[CONTEXT] + 0.5}
    torch.testing.assert_close(sample(unet, moved, noise, TINY, steps=4, guidance=Guidance(3.0, null), memo=memo),
                               sample(unet, moved, noise, TINY, steps=4, guidance=Guidance(3.0, null)), rtol=1e-5, atol=1e-5)
    assert memo._eps is kept  # reused
    other = fixed_noise(3, TINY, seed=5)
    torch.testing.assert_close(sample(unet, params, other, TINY, steps=4, guidance=Guidance(3.0, null), memo=memo),
                               sample(unet, params, other, TINY, steps=4, guidance=Guidance(3.0, null)), rtol=1e-5, atol=1e-5)
    assert memo._eps is not kept
    with torch.no_grad():
        next(iter(params.values())).add_(0.1)  # weights changed in place: the memo must not answer
    assert memo.get(params, memo._key[0], memo._key[1], null) is None
    for bad in (dict(scale=0.0), dict(scale=2.0, t_min=500, t_max=100)):
        with pytest.raises(ValueError):
            Guidance(null_context=null, **bad)
    path = save_checkpoint(tmp_path / "g", None, params, TINY, {"algo": "autodecoder", "sampling": {"guidance": 2.0, "guidance_t_max": 700},
                                                                 "_tensors": {"null_context": null}})
    g = Generator.load(path)
    assert g.guidance.scale == 2.0 and g.guidance.t_max == 700 and torch.equal(g.guidance.null_context, null)
    assert Generator.load(save_checkpoint(tmp_path / "h", None, params, TINY, {"algo": "autodecoder"})).guidance is None
    from meta.sampling import set_guidance
    with pytest.raises(ValueError, match="no null context"):
        set_guidance(tmp_path / "h", 2.0)  # nothing to guide against
    set_guidance(path, 3.0, t_min=500, note="test")
    assert Generator.load(path).guidance.scale == 3.0 and Generator.load(path).guidance.t_min == 500
    set_guidance(path, 1.0)
    assert Generator.load(path).guidance is None


def test_checkpoint_round_trips_through_from_pretrained(tmp_path):
    from diffusers import UNet2DModel

    unet, params, _ = tiny()
    params = {k: (v.detach() + 0.01 * torch.randn_like(v)) for k, v in params.items()}
    save_checkpoint(tmp_path, unet, params, TINY, {"algo": "fomaml", "inner": asdict(InnerConfig()), "iterations": 3})
    plain = UNet2DModel.from_pretrained(tmp_path)
    for name, p in plain.named_parameters():
        torch.testing.assert_close(p, params[name])
    _, loaded, config, record = load_checkpoint(tmp_path)
    assert config == TINY and record["algo"] == "fomaml" and record["iterations"] == 3
    torch.testing.assert_close(loaded[CONTEXT], params[CONTEXT])


def test_inner_config_rejects_bad_values():
    for bad in [dict(adapt="everything"), dict(optimizer="lbfgs"), dict(inner_steps=-1), dict(inner_lr=float("nan")),
                dict(inner_lr=0.0), dict(t_min=500, t_max=100)]:
        with pytest.raises(ValueError):
            InnerConfig(**bad).validate()


def test_inner_config_from_record_layers_defaults_record_and_overrides():
    record = {"inner": {"adapt": "all", "inner_lr": 0.01, "first_order": False}}
    cfg = InnerConfig.from_record(record, first_order=True, inner_lr=None, optimizer="sgd")
    assert cfg == InnerConfig(adapt="all", inner_lr=0.01, optimizer="sgd", first_order=True)  # None: not an override
    assert InnerConfig.from_record({}) == InnerConfig()
    for bad in [dict(inner_lr=0.0), dict(adapt="everything")]:
        with pytest.raises(ValueError):
            InnerConfig.from_record(record, **bad)


def test_adapt_steps_yields_every_step():
    unet, params, ac = tiny()
    steps = list(adapt_steps(unet, params, images(3), ac, InnerConfig(adapt="context", inner_steps=4, shots=3)))
    assert [s.step for s in steps] == [1, 2, 3, 4]
    assert not torch.equal(steps[0].params[CONTEXT], steps[-1].params[CONTEXT])


@pytest.mark.parametrize("adapt_what", ["all", "context"])
def test_first_order_steps_take_eager_autograd_and_match_torch_func(adapt_what, monkeypatch):
    """First-order steps outside torch.func transforms use plain autograd (faster on CPU); they give
    the torch.func path's parameters, also under an outer no_grad, and vmap still gets torch.func."""
    import meta.inner as inner
    unet, params, ac = tiny()
    support = images(3)
    # Adam turns a weight's numerically-zero gradient (a bias before a group norm) into a full step of
    # either sign, so the full-parameter case compares SGD steps
    opt = "adam" if adapt_what == "context" else "sgd"
    cfg = InnerConfig(adapt=adapt_what, inner_steps=3, inner_lr=0.05, optimizer=opt, shots=3)
    assert inner._eager_ok(cfg) and not inner._eager_ok(InnerConfig(first_order=False))
    with torch.no_grad():
        eager = adapt(unet, params, support, ac, cfg, seed=5)
    monkeypatch.setattr(inner, "_eager_ok", lambda cfg: False)
    func = adapt(unet, params, support, ac, cfg, seed=5)
    for k in func:
        torch.testing.assert_close(eager[k], func[k], rtol=1e-5, atol=1e-6)
    inside = []
    torch.func.vmap(lambda s: (inside.append(inner._eager_ok(cfg)), s.sum())[1])(support[None])
    assert inside == [False]  # under vmap (or torch.func.grad) the steps keep torch.func


def test_sketch_context_adds_its_sketch_to_the_x0_estimate(tmp_path):
    """With ctx_sketch the x0 implied by eps is the UNet's own plus sqrt(1 - abar_t) * upsampled sketch."""
    from meta.model import predict_noise
    cfg = GeneratorConfig(ctx_channels=2, ctx_size=16, ctx_sketch=True)
    unet = build_unet(cfg)
    params = {k: v.detach() for k, v in init_params(unet, cfg).items()}
    params[CONTEXT] = torch.randn(2, 16, 16, generator=torch.Generator().manual_seed(0))
    abar = scheduler(cfg).alphas_cumprod
    x_t, t = torch.randn(3, 1, 32, 32), torch.tensor([5, 400, 990])
    with torch.no_grad():
        with_sketch = predict_noise(unet, params, x_t, t)
        unet.sketch_abar = None  # the same weights and inputs, without the sketch term
        without = predict_noise(unet, params, x_t, t)
    up = torch.nn.functional.interpolate(params[CONTEXT][None, :1], size=(32, 32), mode="bilinear", align_corners=False)
    a = abar[t].reshape(-1, 1, 1, 1)
    x0 = lambda eps: (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    torch.testing.assert_close(x0(with_sketch) - x0(without), (1 - a).sqrt() * up.expand(3, -1, -1, -1), rtol=1e-4, atol=1e-4)
    # the flag survives a checkpoint round trip, and the loaded module carries the schedule again
    unet2, _, cfg2, _ = load_checkpoint(save_checkpoint(tmp_path / "g", None, params, cfg, {"algo": "autodecoder"}))
    assert cfg2.ctx_sketch and unet2.sketch_abar is not None


def test_template_start_writes_the_pooled_support_into_the_sketch_and_keeps_the_rest():
    """init_context='template': each task's sketch channel starts at its support's mean drawing
    average-pooled to the context's size (a semi-amortised start); the other channels (and their
    gradient) are the start context's. Without a sketch context it is a clear error."""
    from dataclasses import replace

    from meta.inner import initial

    config = replace(TINY, ctx_sketch=True)
    unet, params, ac = tiny(config=config)
    support = images(3, tasks=2)  # (T, N, 1, 8, 8)
    cfg = InnerConfig(adapt="context", inner_steps=1, inner_lr=0.1, shots=3, init_context="template")
    per_task = {**params, CONTEXT: params[CONTEXT].expand(2, -1, -1, -1)}
    start = initial(unet, per_task, support, cfg)[CONTEXT]
    pooled = torch.nn.functional.avg_pool2d(support.mean(1), 2)  # 8x8 -> the 4x4 context
    torch.testing.assert_close(start[:, :1], pooled)
    torch.testing.assert_close(start[:, 1:], params[CONTEXT][1:].expand(2, -1, -1, -1))
    start.sum().backward()
    assert params[CONTEXT].grad[0].abs().sum() == 0 and (params[CONTEXT].grad[1] == 2).all()
    # one task at a time too, and the inner loop starts there
    one = initial(unet, params, support[0], cfg)[CONTEXT]
    torch.testing.assert_close(one, start[0])
    first = next(adapt_steps(unet, params, support[0], ac, cfg))
    assert (first.params[CONTEXT] - one).abs().max() <= 0.1 + 1e-6  # Adam moves each entry by at most inner_lr
    with pytest.raises(ValueError, match="sketch"):
        initial(tiny()[0], params, support[0], cfg)
    with pytest.raises(ValueError, match="adapt='context'"):
        InnerConfig(adapt="all", init_context="template").validate()
