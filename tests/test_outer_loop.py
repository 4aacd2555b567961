"""The outer loop made visible: snapshots replayed through the one inner loop (demo.runtime.replay), its grid
and curve pictures, the `/outer_loop` handler's errors, and the API streaming one update per column."""
import io
import json
import urllib.request
from dataclasses import asdict

import gradio as gr
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from demo.page.outer import make_outer_loop
from demo.runtime.checkpoints import load_models, write_random_snapshots
from demo.runtime.outer_curve import FILE, curve_picture, from_outer_loop, load_curve
from demo.runtime.outer_grid import HEAD_H, LABEL_W, PAD, replay_grid
from demo.runtime.replay import MAX_STEPS, _Row, check_steps, replay
from demo.runtime.snapshot_bank import SnapshotBank, spread
from demo.runtime.session import Session
from demo.runtime.first_run import set_shots
from meta.checkpoint import save_checkpoint
from meta.inner import InnerConfig
from meta.model import CONTEXT, GeneratorConfig, build_unet, init_params

SMALL = dict(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=4)


@pytest.fixture(scope="module")
def models(outer_assets):
    return load_models(outer_assets, torch.device("cpu"))


@pytest.fixture(scope="module")
def bank(models, outer_assets):
    return SnapshotBank(outer_assets, models.generators)


@pytest.fixture(scope="module")
def shots():
    return set_shots("glyphs", "Knot")[:3]


def test_spread_keeps_the_ends_and_spaces_the_rest_on_a_log_scale():
    assert spread([0, 10, 100]) == [0, 10, 100]
    its = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    picked = spread(its, 5)
    assert len(picked) == 5 and picked[0] == 0 and picked[-1] == 10000
    assert picked == sorted(set(picked)) and set(picked) <= set(its)
    gaps = np.diff(np.log1p(picked))
    assert gaps.max() < 3 * gaps.min()  # roughly even on log(1 + n), not bunched at one end


def test_replay_streams_one_frame_per_column_and_rows_differ(bank, shots):
    snaps = bank.get("glyphs-cavia")
    assert [i for i, _ in snaps] == [0, 10, 100, 1000, 10000] and bank.names() == ["glyphs-cavia"]
    frames = list(replay(snaps, shots, 2, seed=3, samples=4, sampler_steps=2))
    assert [f.step for f in frames] == [0, 1, 2]
    for f in frames:
        assert set(f.samples) == {0, 10, 100, 1000, 10000}
        assert all(s.shape == (4, 32, 32) and s.dtype == np.uint8 for s in f.samples.values())
    last = frames[-1].samples
    assert all(not np.array_equal(last[0], last[i]) for i in (10, 100, 1000, 10000))  # other weights, other samples
    assert not np.array_equal(frames[0].samples[10], frames[-1].samples[10])  # the inner loop moved it
    again = list(replay(snaps, shots, 2, seed=3, samples=4, sampler_steps=2, workers=2))  # fixed noise, any workers
    assert all(np.array_equal(a.samples[i], b.samples[i]) for a, b in zip(frames, again) for i in a.samples)


def test_snapshots_share_nothing_with_the_checkpoint_they_came_from(bank, models):
    base = models.generators["glyphs-cavia"]
    (_, g0), (_, g1) = bank.get("glyphs-cavia")[:2]
    key = next(k for k in base.params if k != CONTEXT)
    assert not torch.equal(g0.params[key], g1.params[key]) and not torch.equal(g0.params[key], base.params[key])
    assert g0.unet is not base.unet and dict(g0.unet.named_parameters())[key].data_ptr() == g0.params[key].data_ptr()
    assert bank.get("glyphs-cavia")[0][1] is g0  # loaded once, then shared


def test_a_template_start_is_shown_as_the_inner_loop_begins(tmp_path, shots):
    """init_context='template': step 0 of each row is the start with its sketch set to the support's mean."""
    config = GeneratorConfig(**SMALL, ctx_sketch=True)
    unet = build_unet(config, seed=0)
    inner = InnerConfig(adapt="context", inner_lr=0.1, init_context="template")
    save_checkpoint(tmp_path / "sketchy", unet, init_params(unet, config), config, {"algo": "fomaml", "inner": asdict(inner)})
    write_random_snapshots(tmp_path / "sketchy", (0, 5))
    m = load_models(tmp_path, torch.device("cpu"))
    (_, g), _ = SnapshotBank(tmp_path, m.generators).get("sketchy")
    support = torch.as_tensor(np.stack(shots))[:, None]
    row = _Row(g, support, torch.randn(2, 1, 32, 32), 1, 0, 2, lambda: False)
    pooled = F.adaptive_avg_pool2d(support.mean(0, keepdim=True), g.params[CONTEXT].shape[-2:])[0, 0]
    assert torch.allclose(row.params[CONTEXT][0], pooled) and torch.equal(row.params[CONTEXT][1:], g.params[CONTEXT][1:])
    assert len(list(replay(SnapshotBank(tmp_path, m.generators).get("sketchy"), shots, 1, samples=2, sampler_steps=2))) == 2


def test_the_grid_has_a_row_per_snapshot_and_blank_cells_until_computed(bank, shots):
    its = [0, 10, 100, 1000, 10000]
    frames = list(replay(bank.get("glyphs-cavia"), shots, 2, samples=4, sampler_steps=2))
    empty, partial, full = (replay_grid(its, 2, frames[:k]) for k in (0, 1, 3))
    assert empty.size == partial.size == full.size and full.mode == "L"
    cell = (full.width - LABEL_W - PAD) // 3 - PAD
    row_h = (full.height - HEAD_H - PAD) // 5 - PAD
    crop = lambda im, r, c: np.asarray(im.crop((LABEL_W + c * (cell + PAD) + PAD, HEAD_H + r * (row_h + PAD) + PAD,
                                                LABEL_W + c * (cell + PAD) + PAD + cell, HEAD_H + r * (row_h + PAD) + PAD + row_h)))
    assert crop(partial, 0, 2).std() == 0 and crop(partial, 0, 0).std() > 0  # step 2 not computed yet: blank
    assert np.array_equal(crop(partial, 0, 0), crop(full, 0, 0))
    rows = [crop(full, r, 2) for r in range(5)]
    assert all(not np.array_equal(rows[0], rows[r]) for r in range(1, 5))


def test_check_steps_and_snapshot_errors(bank):
    assert check_steps(3) == 3 and check_steps(float(MAX_STEPS)) == MAX_STEPS
    for bad in (0, MAX_STEPS + 1, 2.5, True, float("nan"), "3", None):
        with pytest.raises(ValueError, match="Inner steps must be a whole number"):
            check_steps(bad)
    with pytest.raises(ValueError, match="glyphs-joint has no snapshots.*pick one of \\['glyphs-cavia'\\]"):
        bank.get("glyphs-joint")
    with pytest.raises(ValueError, match="Unknown checkpoint"):
        bank.get("nope")


def test_the_handler_says_what_is_wrong(models, bank, shots, tiny_assets):
    run = make_outer_loop(models, bank, "glyphs-cavia")
    with pytest.raises(gr.Error, match="Add 1-10 example images first"):
        list(run(None, 2, 0, session=Session()))
    session = Session()
    session.shots = shots
    with pytest.raises(gr.Error, match="glyphs-joint has no snapshots"):
        list(run(None, 2, 0, checkpoint="glyphs-joint", session=session))
    with pytest.raises(gr.Error, match="Inner steps must be a whole number from 1 to 10"):
        list(run(None, 11, 0, session=session))
    with pytest.raises(gr.Error, match="Seed must be a whole number"):
        list(run(None, 2, -1, session=session))
    session.shots = [np.zeros((3, 32, 32), np.float32) + 0.5]
    with pytest.raises(gr.Error, match="draws handwritten glyphs, but your 1 examples are colour icons"):
        list(run(None, 1, 0, session=session))
    bare = load_models(tiny_assets, torch.device("cpu"))  # no checkpoint has snapshots
    with pytest.raises(gr.Error, match="No installed checkpoint has snapshots"):
        list(make_outer_loop(bare, SnapshotBank(tiny_assets, bare.generators), None)(None, 2, 0, session=session))


def test_the_curve_comes_from_outer_loop_json_else_the_training_record(tmp_path, outer_assets, models):
    curve, note = load_curve(outer_assets / "glyphs-cavia", {})
    assert "validation alphabets" in note and [p.title.split(" ")[0] for p in curve.panels] == ["recognisability", "diversity"]
    assert [s.label for s in curve.panels[0].series] == ["after 0 inner steps", "after 3 inner steps"]
    assert curve.panels[0].series[1].y == [0.1, 0.2, 0.30000000000000004, 0.4, 0.5] and curve.panels[0].series[1].err
    picture = curve_picture(curve, [0, 10, 100])
    colours = {tuple(c) for c in np.asarray(picture).reshape(-1, 3)}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours  # both lines are drawn
    history = {"inner": {"inner_steps": 7}, "validation": [{"iter": i, "query_loss_before": 0.5, "query_loss_after": 0.3 - i / 1e4}
                                                           for i in (100, 200, 300)]}
    curve, note = load_curve(tmp_path, history)
    assert "Query loss" in note and "No recognisability curve" in note
    assert [s.label for s in curve.panels[0].series] == ["before the inner loop", "after 7 inner steps"]
    assert load_curve(tmp_path, {}) == (None, "No outer-loop curve is shipped with this checkpoint.")
    (tmp_path / FILE).write_text(json.dumps({"steps": [0], "snapshots": [{"iter": 0}]}))
    curve, note = load_curve(tmp_path, history)
    assert "could not be read" in note and curve is not None  # a broken file: the record's history instead
    with pytest.raises(ValueError, match="does not follow its schema"):
        from_outer_loop({"steps": [0, 1], "snapshots": [{"iter": 0, "recognisability_within": [0.1]}]})


@pytest.mark.slow
def test_the_api_streams_one_update_per_inner_step(outer_app_url, tmp_path):
    from gradio_client import Client, handle_file

    paths = []
    for k, shot in enumerate(set_shots("glyphs", "Star")[:3]):
        paths.append(str(tmp_path / f"star-{k}.png"))
        Image.fromarray(((1 - shot) * 127.5).astype(np.uint8)).save(paths[-1])  # ink dark on white, as people draw
    client = Client(outer_app_url, download_files=False, verbose=False)
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/outer_loop"]
    assert [p["parameter_name"] for p in api["parameters"]] == ["images", "inner_steps", "seed", "checkpoint"]
    job = client.submit(images=[handle_file(p) for p in paths], inner_steps=3, seed=1, api_name="/outer_loop")
    job.result(timeout=240)
    outputs = job.outputs()
    assert len(outputs) == 3 + 1  # step 0, then one per inner step
    assert [o[1].split("**")[1] for o in outputs] == [f"Step {k} of 3" for k in range(4)]
    with urllib.request.urlopen(outputs[-1][0]["url"], timeout=30) as r:
        grid = Image.open(io.BytesIO(r.read()))
    cell = (grid.width - LABEL_W - PAD) // 4 - PAD
    row_h = (grid.height - HEAD_H - PAD) // 5 - PAD
    rows = [np.asarray(grid.crop((LABEL_W + PAD, HEAD_H + r * (row_h + PAD) + PAD, LABEL_W + PAD + 4 * (cell + PAD),
                                  HEAD_H + r * (row_h + PAD) + PAD + row_h))) for r in range(5)]
    assert all(row.std() > 0 for row in rows)
    assert all(not np.array_equal(rows[a], rows[b]) for a in range(5) for b in range(a + 1, 5))
    with pytest.raises(Exception, match="glyphs-joint has no snapshots"):
        client.submit(images=[handle_file(paths[0])], inner_steps=2, seed=0, checkpoint="glyphs-joint",
                      api_name="/outer_loop").result(timeout=60)
