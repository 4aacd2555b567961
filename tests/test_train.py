"""Real data: the Omniglot loader, the inner loop on a real character, and meta.train smoke runs."""
import json

import numpy as np
import pytest
import torch
from diffusers import UNet2DModel

from meta import glyphs, omniglot
from meta.inner import InnerConfig, adapt_steps, support_noise
from meta.model import GeneratorConfig, build_unet, denoising_loss, init_params, scheduler
from meta.tasks import TaskSampler
from meta.train import main

SMALL = ["--block-out-channels", "8", "16", "--norm-num-groups", "4"]


@pytest.fixture(scope="module")
def background(omniglot_dir):
    return omniglot.load(omniglot_dir, "background")


def test_omniglot_loader_reads_the_official_layout(background, omniglot_dir):
    assert background.images.shape == (964, 20, 32, 32) and len(background.alphabet_names()) == 30
    x = background.images
    assert x.min() == -1.0 and x.max() == 1.0
    ink = (x > 0).mean()
    assert 0.03 < ink < 0.3, ink  # bright strokes on a dark background, not the other way round
    assert (x[:, :, :2] == -1).all() and (x[:, :, :, -2:] == -1).all()  # 28x28 glyph padded to 32
    evaluation = omniglot.load(omniglot_dir, "evaluation")
    assert not set(evaluation.alphabet_names()) & set(background.alphabet_names())
    train, val = omniglot.split_alphabets(background, 5)
    assert len(val.alphabet_names()) == 5 and not set(train.alphabet_names()) & set(val.alphabet_names())


def test_tasks_split_support_and_query(background):
    sampler = TaskSampler(background, shots=5, query_size=10, seed=0)
    support, query, chars = sampler.sample(4)
    assert support.shape == (4, 5, 1, 32, 32) and query.shape == (4, 10, 1, 32, 32)
    for i, c in enumerate(chars):  # support and query are different drawings of the same character
        drawings = background.images[c]
        idx = lambda im: int(np.argmin(((drawings - im.numpy()[0]) ** 2).sum((1, 2))))
        assert len({idx(im) for im in torch.cat([support[i], query[i]])}) == 15
    with pytest.raises(ValueError):
        TaskSampler(background, shots=15, query_size=10)


def test_inner_loop_lowers_the_support_loss_on_a_real_character(background):
    config = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4)
    unet = build_unet(config)
    params, ac = init_params(unet, config), scheduler(config).alphas_cumprod
    params = {k: v.detach() for k, v in params.items()}
    support = torch.from_numpy(background.images[100, :5])[:, None]
    cfg = InnerConfig(adapt="all", inner_steps=30, inner_lr=3e-3, shots=5)
    t, eps = support_noise(support, cfg, step=10_000, seed=0)  # a fixed draw none of the steps uses
    before = float(denoising_loss(unet, params, ac, support, t, eps))
    *_, last = adapt_steps(unet, params, support, ac, cfg)
    after = float(denoising_loss(unet, last.params, ac, support, t, eps))
    assert after < 0.7 * before, (before, after)


def test_procedural_glyphs_are_deterministic_and_distinct():
    a, b = glyphs.glyph_set(3, 4), glyphs.glyph_set(3, 4)
    assert np.array_equal(a.images, b.images) and a.images.shape == (3, 4, 32, 32)
    same = np.abs(a.images[0, 0] - a.images[0, 1]).mean()
    other = np.abs(a.images[0, 0] - a.images[1, 0]).mean()
    assert 0 < same < other


@pytest.mark.parametrize("algo", ["reptile", "fomaml", "maml", "joint", "autodecoder"])
def test_train_smoke_every_algo_with_its_own_defaults(algo, omniglot_dir, background, tmp_path):
    """`--algo X` with no algorithm flags works for every X (each takes its own defaults: Reptile adapts
    all weights, (FO)MAML the context); maml is second order and fomaml first order by definition."""
    args = ["--algo", algo, "--data-dir", str(omniglot_dir), "--out", str(tmp_path), "--meta-iters", "2",
            "--meta-batch-size", "2", "--batch-size", "8", "--inner-steps", "2", "--val-tasks", "2", "--val-every", "2", *SMALL]
    ckpt = main(args)
    unet = UNet2DModel.from_pretrained(ckpt)
    record = json.loads((ckpt / "training.json").read_text())
    assert record["algo"] == algo and record["iterations"] == 2 and record["inner"]["inner_steps"] == 2
    assert record["meta_learned"] is (algo in ("reptile", "fomaml", "maml"))
    assert record["inner"]["adapt"] == ("all" if algo in ("reptile", "joint") else "context")
    assert record["inner"]["first_order"] is (algo != "maml")
    assert record["compute"]["image_passes"] > 0 and record["compute"]["train_seconds"] > 0
    assert {"torch", "diffusers", "accelerate"} <= set(record["versions"]) and record["validation"]
    assert all(np.isfinite(v["train_loss"]) for v in record["validation"])
    assert str(tmp_path) not in (ckpt / "training.json").read_text()  # no machine paths in the record
    assert (tmp_path / "val_000002.png").exists()
    assert sum(p.numel() for p in unet.parameters()) > 0
    if algo == "fomaml":  # --resume continues the iteration count and the compute
        main(args[:args.index("--meta-iters") + 1] + ["4"] + args[args.index("--meta-iters") + 2:] + ["--resume"])
        again = json.loads((ckpt / "training.json").read_text())
        assert again["iterations"] == 4 and again["compute"]["image_passes"] == 2 * record["compute"]["image_passes"]


@pytest.mark.parametrize("flags,message", [(["--algo", "maml", "--first-order"], "second order"),
                                           (["--algo", "fomaml", "--no-first-order"], "first order"),
                                           (["--algo", "reptile", "--adapt", "context"], "reptile adapts weights"),
                                           (["--algo", "joint", "--outer-steps", "random"], "outer"),
                                           (["--algo", "fomaml", "--snapshots", "5,2"], "increasing"),
                                           (["--algo", "fomaml", "--init-context", "template"], "sketch")])
def test_impossible_combinations_are_clear_errors(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([*flags, "--data-dir", str(tmp_path), "--out", str(tmp_path), *SMALL])
    assert message in capsys.readouterr().err


def test_reptile_logs_the_mean_query_loss_over_tasks():
    """Reptile's logged loss is the mean over the meta-batch, not the sum (8x for 8 tasks)."""
    from meta.algorithms import fixed_query_noise, reptile_step

    config = GeneratorConfig(block_out_channels=(4, 8), norm_num_groups=4, sample_size=8, ctx_channels=0)
    unet = build_unet(config)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in init_params(unet, config).items()}
    ac = scheduler(config).alphas_cumprod
    g = torch.Generator().manual_seed(0)
    support, query = torch.rand(4, 2, 1, 8, 8, generator=g) * 2 - 1, torch.rand(4, 3, 1, 8, 8, generator=g) * 2 - 1
    logged = reptile_step(unet, params, support, query, ac, InnerConfig(adapt="all", inner_steps=1, inner_lr=1e-3, shots=2), g)
    t, eps = fixed_query_noise(query)
    per_task = [float(denoising_loss(unet, {k: v.detach() for k, v in params.items()}, ac, query[i], t[i], eps[i])) for i in range(4)]
    assert logged == pytest.approx(np.mean(per_task), rel=1e-5)


def test_autodecoder_sketch_with_mean_start_context_saves_and_resumes(omniglot_dir, background, tmp_path):
    """--ctx-sketch --start-context mean: the checkpoint's context (where the inner loop starts) is the
    mean of the per-character table; the trained null context is kept aside and comes back on --resume."""
    from safetensors.torch import load_file

    args = ["--algo", "autodecoder", "--data-dir", str(omniglot_dir), "--out", str(tmp_path), "--meta-iters", "2",
            "--batch-size", "8", "--val-tasks", "2", "--val-every", "2", *SMALL, "--ctx-sketch", "--start-context", "mean"]
    ckpt = main(args)
    extra = load_file(str(ckpt / "extra.safetensors"))
    torch.testing.assert_close(extra["context"], extra["context_table"].mean(0))
    assert not torch.equal(extra["null_context"], extra["context"])
    # the sampler's prior mean: the mean training drawing (the 25 training alphabets only)
    train_set, _ = omniglot.split_alphabets(background, 5)
    torch.testing.assert_close(extra["prior_mean"], torch.from_numpy(train_set.images.mean((0, 1), dtype=np.float64)).float()[None])
    # ... and `python -m meta.prior` recomputes it for a checkpoint saved without one
    from safetensors.torch import save_file
    from meta import prior

    save_file({k: v for k, v in extra.items() if k != "prior_mean"}, str(ckpt / "extra.safetensors"))
    prior.main([str(ckpt), "--data-dir", str(omniglot_dir)])
    torch.testing.assert_close(load_file(str(ckpt / "extra.safetensors"))["prior_mean"], extra["prior_mean"])
    assert json.loads((ckpt / "training.json").read_text())["generator"]["ctx_sketch"] is True
    main(args[:args.index("--meta-iters") + 1] + ["3"] + args[args.index("--meta-iters") + 2:] + ["--resume"])
    again = load_file(str(ckpt / "extra.safetensors"))
    torch.testing.assert_close(again["context"], again["context_table"].mean(0))
    assert json.loads((ckpt / "training.json").read_text())["iterations"] == 3


def test_context_phase_warm_started_from_an_autodecoder_starts_where_its_inner_loop_starts(omniglot_dir, tmp_path):
    """--init from a --start-context mean auto-decoder: a CAVIA/MAML phase begins at the checkpoint's
    own (mean) context, not the null context kept aside for resuming the auto-decoder; --time-budget
    stops training early, validating and saving the iteration it stopped at."""
    from safetensors.torch import load_file

    ad = main(["--algo", "autodecoder", "--data-dir", str(omniglot_dir), "--out", str(tmp_path / "ad"), "--meta-iters", "2",
               "--batch-size", "8", "--val-tasks", "2", "--val-every", "2", *SMALL, "--ctx-sketch", "--start-context", "mean"])
    mean_ctx = load_file(str(ad / "extra.safetensors"))["context"]
    phase = main(["--algo", "fomaml", "--init", str(ad), "--data-dir", str(omniglot_dir),
                  "--out", str(tmp_path / "cavia"), "--meta-iters", "1000", "--time-budget", "0.001", "--meta-lr", "1e-12",
                  "--meta-batch-size", "2", "--inner-steps", "1", "--val-tasks", "2", "--val-every", "1000"])
    record = json.loads((phase / "training.json").read_text())
    assert record["iterations"] == 1 and record["validation"][0]["iter"] == 1  # stopped by the budget, not at 1000
    torch.testing.assert_close(load_file(str(phase / "extra.safetensors"))["context"], mean_ctx, rtol=0, atol=1e-6)


def test_download_checks_md5(tmp_path, monkeypatch):
    monkeypatch.setattr(omniglot.urllib.request, "urlretrieve", lambda url, path: open(path, "wb").write(b"not a zip"))
    with pytest.raises(ValueError, match="md5"):
        omniglot.download(tmp_path, splits=("background",))


def test_missing_data_gives_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="images_background"):
        omniglot.load(tmp_path, "background")


def test_fomaml_through_a_template_started_context_fit_with_the_joint_term_and_snapshots(omniglot_dir, tmp_path):
    """The meta-learned glyph recipe in miniature: FOMAML from an auto-decoder, the inner loop starting
    from the support's pooled mean in the sketch context, k ~ U{1..K} inner steps per outer iteration,
    the auto-decoder's own loss mixed in, and fp16 snapshots along the outer loop that load back."""
    from safetensors.torch import load_file

    from meta.checkpoint import Generator
    from meta.snapshots import list_snapshots, load_snapshot

    ad = main(["--algo", "autodecoder", "--data-dir", str(omniglot_dir), "--out", str(tmp_path / "ad"), "--meta-iters", "2",
               "--batch-size", "8", "--val-tasks", "2", "--val-every", "2", *SMALL, "--ctx-sketch", "--start-context", "mean"])
    before = load_file(str(ad / "extra.safetensors"))
    args = ["--algo", "fomaml", "--init", str(ad), "--data-dir", str(omniglot_dir), "--out", str(tmp_path / "meta"),
            "--meta-iters", "3", "--meta-batch-size", "2", "--batch-size", "8", "--inner-steps", "3", "--val-tasks", "2",
            "--val-every", "3", "--init-context", "template", "--outer-steps", "random", "--outer-t-min", "300",
            "--joint-weight", "1", "--snapshots", "0,2"]
    ckpt = main(args)
    record = json.loads((ckpt / "training.json").read_text())
    assert record["meta_learned"] and record["inner"]["init_context"] == "template"
    assert record["train"]["outer"] == {"t_min": 300, "t_max": 1000, "steps": "random", "joint_weight": 1.0}
    assert record["warm_start"]["algo"] == "autodecoder" and record["warm_start"]["iterations"] == 2
    after = load_file(str(ckpt / "extra.safetensors"))
    # the joint term trains the per-character contexts and the null context; the start context is meta-learned
    for key in ("context_table", "null_context", "context"):
        assert not torch.equal(after[key], before[key]), key
    assert list_snapshots(ckpt) == [0, 2]
    base = Generator.load(ckpt)
    first = load_snapshot(ckpt, 0, base)
    for k, v in first.params.items():  # snapshot 0 is the auto-decoder it started from (in fp16)
        ref = before["context"] if k == "context" else dict(Generator.load(ad).params)[k]
        torch.testing.assert_close(v, ref, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(first.record["_tensors"]["null_context"], before["null_context"], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="no snapshot"):
        load_snapshot(ckpt, 1, base)
