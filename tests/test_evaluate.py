"""The few-shot evaluation and its judge: the measures must be able to fail, and do on the wrong input."""
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from meta import omniglot
from meta.eval_tasks import make_tasks
from meta.evaluate import EvalConfig, evaluate, labels_for, main
from meta.inner import InnerConfig
from meta.judge import Judge, one_shot_accuracy, prototypical_loss
from meta.checkpoint import save_checkpoint
from meta.model import GeneratorConfig, build_unet, init_params
from meta.omniglot import GlyphSet

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INNER_LOOP_DATA", ROOT.parent / "shared" / "data" / "omniglot"))
JUDGE = ROOT / "assets" / "judge"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"Omniglot not found at {DATA} (set INNER_LOOP_DATA)")
needs_judge = pytest.mark.skipif(not (JUDGE / "model.safetensors").exists(),
                                 reason="no trained judge in assets/judge (python -m meta.judge --data-dir DIR)")


@pytest.fixture(scope="module")
def evaluation():
    return omniglot.load(DATA, "evaluation")


@pytest.fixture(scope="module")
def judge():
    torch.set_num_threads(1)
    return Judge.load(JUDGE)


@pytest.fixture(scope="module")
def tasks(evaluation, judge):
    return make_tasks(evaluation, judge, EvalConfig(tasks=40, shots=5, reference=5, seed=3))


def dummy_checkpoint(path) -> Path:
    config = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4)
    unet = build_unet(config, seed=0)
    inner = InnerConfig(adapt="context", inner_steps=1, inner_lr=0.1)
    return save_checkpoint(path, unet, init_params(unet, config), config, {"algo": "fomaml", "inner": asdict(inner), "iterations": 0})


def test_judge_round_trips_through_safetensors(tmp_path):
    judge = Judge(channels=8, blocks=2)
    judge.save(tmp_path / "j", {"note": "test"})
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    torch.testing.assert_close(Judge.load(tmp_path / "j").embed(x), judge.embed(x))
    assert judge.embed(x).shape == (3, 8 * 8 * 8)
    with pytest.raises(ValueError, match="not a judge folder"):
        Judge.load(tmp_path)


def test_every_support_loss_is_the_mean_of_all_one_shot_episodes():
    judge = Judge(channels=8, blocks=4).eval()  # eval: batch statistics would differ per forward pass
    batch = torch.rand(5, 4, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    z = judge(batch.reshape(-1, 1, 32, 32)).reshape(5, 4, -1)
    losses = [torch.nn.functional.cross_entropy(-torch.cdist(z[:, q], z[:, s]).pow(2), torch.arange(5))
              for q in range(4) for s in range(4) if s != q]
    torch.testing.assert_close(prototypical_loss(judge, batch, 1, every_support=True)[0], torch.stack(losses).mean())
    plain = torch.nn.functional.cross_entropy(-torch.cdist(z[:, 1:].reshape(-1, z.shape[-1]), z[:, 0]).pow(2),
                                              torch.arange(5).repeat_interleave(3))
    torch.testing.assert_close(prototypical_loss(judge, batch, 1)[0], plain)


@needs_data
@needs_judge
def test_judge_one_shot_accuracy_on_unseen_alphabets(evaluation, judge):
    score = one_shot_accuracy(judge.embed(evaluation.images[:, :, None]), evaluation, ways=20, runs=500)
    assert score["ways"] == 20
    assert score["accuracy"] >= 0.82, score["accuracy"]  # measured 0.845 over 1000 runs (assets/judge/judge.json)


@needs_data
@needs_judge
def test_recognisability_is_high_for_real_drawings_and_chance_for_the_wrong_input(tasks, judge):
    chance = np.mean([1 / t["ways"] for t in tasks.info])
    tasks.set_radius(judge)
    score = lambda x: (lambda m: (m["recognisability"], m["novelty"], m["recognisability_within"]))(tasks.score(judge, x))
    real, _, real_within = score(tasks.rest[:, :10])
    assert real.mean() >= 0.8, real.mean()
    assert 0.7 <= real_within.mean() <= real.mean(), real_within.mean()  # 95 % of real drawings lie within the radius
    other, _, _ = score(torch.roll(tasks.rest[:, :10], 1, dims=0))  # another task's character
    assert other.mean() <= chance + 0.1, other.mean()
    noise = torch.rand(tasks.rest[:, :10].shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    blank = torch.full_like(noise, -1.0)
    for wrong in (noise, blank):
        recog, _, within = score(wrong)
        assert recog.mean() <= chance + 0.15 and within.mean() <= 0.01, (recog.mean(), within.mean())


@needs_data
@needs_judge
def test_novelty_is_zero_for_copies_and_about_one_for_new_real_drawings(tasks, judge):
    copies = tasks.score(judge, tasks.support)["novelty"]
    np.testing.assert_allclose(copies, 0.0, atol=1e-3)
    new = tasks.score(judge, tasks.rest)["novelty"]
    assert 0.8 <= new.mean() <= 1.25, new.mean()


@needs_data
@needs_judge
def test_copy_distance_and_diversity_tell_copies_and_templates_from_new_drawings(tasks, judge):
    """The measures no shortcut passes: a copy of the support and the support shifted 1-2 pixels are
    copies (copy_distance <= 0.15), one image repeated has no diversity, and real held-out drawings --
    scored against units taken from *other* held-out drawings -- land near 1 on both."""
    from meta.measures import shift_copy, template_images

    real = tasks.score(judge, tasks.rest)
    assert 0.7 <= real["copy_distance"].mean() <= 1.3 and 0.7 <= real["diversity"].mean() <= 1.3, real
    for name, x in {"copy": tasks.support,
                    "shifted_copy": torch.stack([shift_copy(s, i) for i, s in enumerate(tasks.support)])}.items():
        m = tasks.score(judge, x)
        assert m["copy_distance"].mean() <= 0.15, (name, m["copy_distance"].mean())
        assert m["recognisability"].mean() >= 0.8, name  # copies are recognised: recognisability alone cannot tell
    template = tasks.score(judge, template_images(tasks.support, 10))
    assert template["diversity"].mean() <= 0.05, template["diversity"].mean()
    repeated = tasks.score(judge, tasks.rest[:, :1].expand(-1, 10, -1, -1, -1))  # one real drawing, ten times
    assert repeated["diversity"].mean() <= 0.05 and repeated["copy_distance"].mean() >= 0.7


def test_evaluate_runs_on_a_dummy_checkpoint_and_fills_the_schema(tmp_path):
    """Synthetic glyphs and an untrained judge: the mechanics, not the quality."""
    rng = np.random.default_rng(0)
    glyphs = GlyphSet(rng.uniform(-1, 1, (6, 12, 32, 32)).astype(np.float32), np.array(["a"] * 4 + ["b"] * 2),
                      np.array([f"character{i:02d}" for i in range(6)]))
    Judge(channels=8, blocks=4).save(tmp_path / "judge", {})
    cfg = EvalConfig(tasks=2, steps=(0, 1), shots=3, reference=3, samples=2, sampler_steps=2, judge=str(tmp_path / "judge"),
                     judge_runs=5, grid_dir=str(tmp_path / "grids"), grid_steps=(0, 1), grid_tasks=1)
    report = evaluate([dummy_checkpoint(tmp_path / "dummy")], glyphs, cfg)
    result = report["results"]["dummy"]
    assert 0.0 <= report["judge_one_shot_accuracy"] <= 1.0
    assert result["steps"] == [0, 1] and result["inner"]["adapt"] == "context"
    for key in ("query_loss", "query_loss_stderr", "recognisability", "novelty", "recognisability_within", "diversity",
                "copy_distance", "diversity_stderr", "copy_distance_stderr", "query_loss_low", "query_loss_high"):
        assert len(result[key]) == 2 and all(np.isfinite(result[key])), key
    assert result["meta_learned"] is True  # a fomaml record
    assert set(report["baselines"]) == {"real", "copy", "shifted_copy", "template"}  # no sketch context: no template_context
    for name, m in report["baselines"].items():
        assert {"recognisability", "recognisability_within", "diversity", "copy_distance"} <= set(m), name
        assert all(isinstance(m[k], float) for k in ("recognisability", "diversity", "copy_distance")), name
    assert report["baselines"]["copy"]["copy_distance"] == 0.0 and report["baselines"]["template"]["diversity"] == 0.0
    assert result["query_loss"][0] != result["query_loss"][1]  # one inner step changed the generator
    assert all(0.0 <= r <= 1.0 for r in result["recognisability"])
    assert {t["ways"] for t in report["tasks"]} <= {2, 4}  # alphabets smaller than 20: all their characters
    assert len(list((tmp_path / "grids").glob("dummy_task00_*.png"))) == 1
    json.dumps(report)  # serialisable as it is


@needs_data
@needs_judge
def test_cli_writes_json_and_plot_for_a_checkpoint_and_scratch(tmp_path):
    out = tmp_path / "eval.json"
    main(["--checkpoint", str(dummy_checkpoint(tmp_path / "dummy")), "--checkpoint", "scratch", "--data-dir", str(DATA),
          "--tasks", "2", "--steps", "0,1", "--samples", "2", "--sampler-steps", "2", "--judge-runs", "50",
          "--json", str(out), "--plot", str(tmp_path / "curves.png"), "--threads", "1"])
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"dummy", "scratch"}
    assert report["results"]["scratch"]["inner"]["adapt"] == "all"
    assert report["results"]["scratch"]["inner"]["inner_lr"] == 1e-3
    assert (tmp_path / "curves.png").stat().st_size > 1000


@needs_data
@needs_judge
def test_validation_split_snapshots_and_the_template_in_the_sketch_context(tmp_path):
    """--split validation evaluates the background alphabets meta.train holds out; a sketch-context
    checkpoint gets the zero-step template_context baseline (the support's pooled mean in its sketch,
    same weights and noise: equal to step 0 of an inner loop that starts from that template);
    FOLDER@ITER evaluates a snapshot; meta.outer_loop writes every snapshot's curve; the tradeoff figure draws."""
    from dataclasses import replace

    from meta import outer_loop
    from meta.figure import tradeoff
    from meta.snapshots import write_snapshot

    config = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=2, ctx_size=16, ctx_sketch=True)
    unet = build_unet(config, seed=0)
    params = init_params(unet, config)
    inner = InnerConfig(adapt="context", inner_steps=1, inner_lr=0.1, init_context="template")
    ckpt = save_checkpoint(tmp_path / "sketch", unet, params, config, {"algo": "fomaml", "inner": asdict(inner), "iterations": 2})
    for it, scale in ((0, 0.5), (2, 1.0)):
        write_snapshot(ckpt, it, {k: v * scale for k, v in params.items()})
    out = tmp_path / "eval.json"
    args = ["--data-dir", str(DATA), "--split", "validation", "--tasks", "2", "--steps", "0,1", "--samples", "2",
            "--sampler-steps", "2", "--judge-runs", "20", "--threads", "1"]
    main(["--checkpoint", str(ckpt), "--checkpoint", f"{ckpt}@0", "--json", str(out), *args])
    report = json.loads(out.read_text())
    train_val = omniglot.split_alphabets(omniglot.load(DATA, "background"), 5, seed=0)[1].alphabet_names()
    assert report["split"] == "validation" and {t["alphabet"] for t in report["tasks"]} <= set(train_val)
    assert set(report["results"]) == {"sketch", "sketch@0"}
    tc, step0 = report["baselines"]["template_context:sketch"], report["results"]["sketch"]
    for m in ("recognisability", "diversity", "copy_distance"):  # the template start at step 0 *is* the shortcut
        assert tc[m] == pytest.approx(step0[m][0]), m
    assert report["results"]["sketch@0"]["diversity"] != step0["diversity"]  # the snapshot's own weights
    tradeoff(report, tmp_path / "tradeoff.png")
    assert (tmp_path / "tradeoff.png").stat().st_size > 1000
    main(["--checkpoint", str(ckpt), "--json", str(out), "--baselines", "none", *args])
    assert json.loads(out.read_text())["baselines"] == {}
    curve = outer_loop.main([str(ckpt), "--data-dir", str(DATA), "--tasks", "2", "--samples", "2", "--steps", "0,1"])
    assert [row["iter"] for row in curve["snapshots"]] == [0, 2] and len(curve["snapshots"][0]["recognisability_within"]) == 2
    assert json.loads((ckpt / "outer_loop.json").read_text()) == curve


def test_labels_are_folder_names_made_unique_by_their_parents():
    assert labels_for(["runs/a/checkpoint", "runs/b/checkpoint", "scratch"]) == ["a/checkpoint", "b/checkpoint", "scratch"]
    assert labels_for(["runs/joint", "scratch"]) == ["joint", "scratch"]
    with pytest.raises(ValueError):
        EvalConfig(steps=(5, 1)).validate(20)


def test_guidance_override_needs_a_null_context_and_one_turns_it_off():
    from meta.evaluate import guidance_for, scratch
    gen = scratch()
    assert guidance_for(gen, EvalConfig()) is None and guidance_for(gen, EvalConfig(guidance=1.0)) is None
    with pytest.raises(ValueError, match="null context"):
        guidance_for(gen, EvalConfig(guidance=2.0))
    gen.record["_tensors"] = {"null_context": torch.zeros(4, 8, 8)}
    g = guidance_for(gen, EvalConfig(guidance=2.0, guidance_t_min=500))
    assert (g.scale, g.t_min, g.t_max) == (2.0, 500, 1000)
    with pytest.raises(ValueError, match="guidance scale must be"):
        EvalConfig(guidance=0.0).validate(20)


def test_a_report_names_folders_not_paths_of_the_machine_that_made_it():
    from meta.evaluate import portable

    cfg = portable({"judge": "/home/someone/project/assets/judge", "grid_dir": "/tmp/grids", "shots": 5, "seed": 0})
    assert cfg == {"judge": "judge", "grid_dir": "grids", "shots": 5, "seed": 0}
