"""The live run with tiny untrained generators: streaming, stop, reset, scrub, downloads (milliseconds each)."""
import shutil

import gradio as gr
import numpy as np
import pytest
import torch

from demo.runtime.checkpoints import describe, find_checkpoints, inner_config, load_models
from demo.runtime.engine import Settings, adapt_live
from demo.runtime.request import make_lanes
from demo.page.explain import NO_RESULTS, results_markdown
from demo.page.handlers import downloads, make_check, make_run, request_stop, show_step
from demo.page.switch import PAGE, reset
from demo.runtime.session import Session, delete_session
from demo.runtime.shots import example_sets, glyph_from_image
from meta.checkpoint import load_checkpoint
from meta.model import CONTEXT

OUTPUTS = 9  # left grid, right grid, live chart, status, before/after, slider, gif, zip, losses


@pytest.fixture(scope="module")
def shots():
    return [glyph_from_image(im, "example") for im in next(iter(example_sets().values()))][:4]


def lanes(models, baseline=True):
    return make_lanes(models, models.default, None, baseline)


def test_checkpoints_are_found_labelled_and_the_joint_one_is_the_baseline(tiny_models, tiny_assets, tmp_path):
    assert [p.name for p in find_checkpoints(tiny_assets)] == ["glyphs-cavia", "glyphs-joint"]
    assert tiny_models.default == "glyphs-cavia" and tiny_models.baseline == "glyphs-joint"
    label = tiny_models.labels["glyphs-cavia"]
    assert "context" in label and "first-order MAML" in label
    assert "not meta-learned" in describe("x", tiny_models.generators["glyphs-joint"].record)
    with pytest.raises(ValueError, match="no checkpoints"):
        load_models(tmp_path)


def test_engine_streams_step_zero_then_every_step_from_fixed_noise(tiny_models, shots):
    before = {k: v.clone() for k, v in tiny_models.generators[tiny_models.default].params.items()}
    frames = list(adapt_live(lanes(tiny_models), shots, Settings(inner_steps=3, samples=4, sampler_steps=2)))
    assert [f.step for f in frames] == [0, 1, 2, 3]
    assert set(frames[0].samples) == {"meta", "baseline"} and frames[0].samples["meta"].shape == (4, 32, 32)
    assert frames[0].support_loss == {} and set(frames[1].support_loss) == {"meta", "baseline"}
    assert set(frames[-1].query_loss) == {"meta", "baseline"}  # >= 2 shots: leave-one-out query loss
    # the same seed gives the same frames, also with the lanes and probes running side by side
    again = list(adapt_live(lanes(tiny_models), shots, Settings(inner_steps=3, samples=4, sampler_steps=2, workers=3)))
    for a, b in zip(frames, again, strict=True):
        assert all(np.array_equal(a.samples[n], b.samples[n]) for n in a.samples)
        assert a.support_loss == b.support_loss and a.query_loss == b.query_loss
    assert not np.array_equal(frames[0].samples["meta"], frames[-1].samples["meta"])  # it did adapt
    # one lane on two workers draws half its grid on the other worker: the same grids
    one = [adapt_live(lanes(tiny_models, baseline=False), shots, Settings(inner_steps=2, samples=4, sampler_steps=2, workers=w))
           for w in (1, 2)]
    for a, b in zip(*map(list, one), strict=True):
        np.testing.assert_allclose(a.samples["meta"].astype(int), b.samples["meta"].astype(int), atol=1)
    after = tiny_models.generators[tiny_models.default].params
    assert all(torch.equal(before[k], after[k]) for k in before)  # the shared generator is untouched


def test_one_shot_has_no_query_loss_and_stop_ends_the_stream(tiny_models, shots):
    frames = list(adapt_live(lanes(tiny_models, baseline=False), shots[:1], Settings(inner_steps=2, samples=2, sampler_steps=2)))
    assert frames[-1].query_loss == {} and set(frames[-1].samples) == {"meta"}
    seen = []
    for f in adapt_live(lanes(tiny_models), shots, Settings(inner_steps=50, samples=2, sampler_steps=2), lambda: len(seen) >= 2):
        seen.append(f)
    assert [f.step for f in seen] == [0, 1]
    # Stop pressed in the middle of a step (here: during step 1's preview) ends the stream at once,
    # without a half-made frame: the check runs between the inner update and the preview, and
    # before every sampler step
    calls = []
    mid = list(adapt_live(lanes(tiny_models, baseline=False), shots, Settings(inner_steps=5, samples=2, sampler_steps=4),
                          lambda: calls.append(1) or len(calls) >= 3))
    assert [f.step for f in mid] == [0] and len(calls) == 3  # before step 1, after its update, 1st sampler step


def run_all(models, session, **kw):
    args = dict(images=None, inner_steps=3, seed=0, samples=4, sampler_steps=2, session=session)
    return list(make_run(models)(**{**args, **kw}))


def test_run_handler_streams_then_gives_before_after_filmstrip_and_generator(tiny_models, shots, tmp_path):
    session = Session()
    session.shots = list(shots)
    assert [u["interactive"] for u in downloads(session)] == [False, False]  # nothing to download yet
    outs = run_all(tiny_models, session)
    assert [u["interactive"] for u in downloads(session)] == [True, True]  # the page's buttons go live after the run
    assert len(outs) == 3 + 1 + 1 and all(len(o) == OUTPUTS for o in outs)  # steps 0..3, then the final outputs
    assert all(isinstance(o[6], type(gr.skip())) for o in outs[1:-1])  # downloads wait for the end
    final = outs[-1]
    assert final[0].size == final[1].size and "done" in final[3] and final[4] is not None
    assert final[5]["value"] == 3 and final[5]["maximum"] == 3
    chart = final[2]["value"]  # the live chart: each lane's likeness after every step, and the ceiling
    assert set(chart["curve"]) == {"meta-learned", "ordinary", "your own examples (ceiling)"}
    assert sorted(chart[chart["curve"] == "ordinary"]["step"]) == [0, 1, 2, 3] and chart["percent"].between(0, 100).all()
    assert "Step 3 of 3" in final[3] and "look like your examples" in final[3]
    gif, zip_path = final[6], final[7]
    with open(gif, "rb") as f:
        assert f.read(6) == b"GIF89a"
    shutil.unpack_archive(zip_path, tmp_path / "unzipped")
    unet, params, config, record = load_checkpoint(tmp_path / "unzipped")
    assert record["adapted_from"] == tiny_models.default and record["inner_steps_run"] == 3
    assert torch.allclose(params["context"], session.params["meta"]["context"])
    assert len(session.frames) == 4 and session.frames[-1].params == {}  # params kept once, not per frame
    meta, base, caption = show_step(1, session)
    assert meta.size == final[0].size and "step 1" in caption
    delete_session(session)
    assert session._tmp is None


def test_the_downloaded_generator_keeps_the_prior_mean_and_guidance_and_samples_like_the_page(tiny_models, tiny_assets, tmp_path):
    from demo.runtime.downloads import export_generator
    from meta.inner import InnerConfig
    from meta.checkpoint import Generator
    from meta.sampling import fixed_noise, sample

    gen = Generator.load(tiny_assets / tiny_models.default)  # a private copy: the shared models stay untouched
    gen.unet.prior_mean = torch.linspace(-1, 1, 32 * 32).reshape(1, 32, 32)
    if CONTEXT in gen.params:  # a guided checkpoint: the download must guide the same way
        gen.record["sampling"] = {"guidance": 2.0}
        gen.record["_tensors"]["null_context"] = torch.randn(gen.params[CONTEXT].shape, generator=torch.Generator().manual_seed(0))
    zip_path = export_generator(gen, gen.params, tmp_path, checkpoint="x", inner=InnerConfig(), steps=0, shots=5, seed=0)
    shutil.unpack_archive(zip_path, tmp_path / "unzipped")
    again = Generator.load(tmp_path / "unzipped")
    torch.testing.assert_close(again.unet.prior_mean, gen.unet.prior_mean)
    assert (again.guidance is None) == (gen.guidance is None)
    if gen.guidance is not None:
        assert again.guidance.scale == 2.0 and torch.equal(again.guidance.null_context, gen.guidance.null_context)
    noise = fixed_noise(2, gen.config, seed=0)
    torch.testing.assert_close(sample(again.unet, again.params, noise, again.config, steps=3, guidance=again.guidance),
                               sample(gen.unet, gen.params, noise, gen.config, steps=3, guidance=gen.guidance))


def test_stop_keeps_the_last_frame_and_reset_leaves_outputs_alone(tiny_models, shots):
    session = Session()
    session.shots = list(shots)
    run = make_run(tiny_models)(None, 50, 0, samples=2, sampler_steps=2, session=session)
    next(run), next(run)
    request_stop(session)
    rest = list(run)
    assert "stopped" in rest[-1][3] and rest[-1][5]["value"] == session.frames[-1].step < 50
    run = make_run(tiny_models)(None, 50, 0, samples=2, sampler_steps=2, session=session)
    next(run)
    page = dict(zip(PAGE, reset(tiny_models, session), strict=True))
    assert list(run) == []  # no late frame overwrites the reset
    # the page as after loading: the first built-in set, its caption, no run, inert downloads
    first = next(iter(example_sets()))
    assert session.source == first and len(session.shots) == 5 and session.frames == []
    assert first in page["caption"] and len(page["gallery"]["value"]) == 5 and page["example_set"]["value"] == first
    assert page["meta_grid"] is None and page["inner_steps"] == 20
    # the chart keeps the run's curves with no points (None would make Gradio's plot throw in the browser)
    assert page["plot"]["value"]["percent"].isna().all() and len(page["plot"]["value"]) == 3
    assert not page["filmstrip"]["interactive"] and not page["zip"]["interactive"]
    assert "Reset" in page["status"] and "Run" in page["status"]


def test_bad_settings_and_missing_examples_are_user_errors(tiny_models, shots):
    with pytest.raises(gr.Error, match="Add 1-10 example images first"):
        run_all(tiny_models, Session())
    check = make_check(tiny_models)  # what the page's Run asks first: the same refusal, before any output
    with pytest.raises(gr.Error, match="Add 1-10 example images first"):
        check(None, 3, 0, session=Session())
    session = Session()
    session.shots = list(shots)
    with pytest.raises(gr.Error, match="inner_lr"):
        run_all(tiny_models, session, inner_lr=-1)
    with pytest.raises(gr.Error, match="Inner steps"):
        run_all(tiny_models, session, inner_steps=0)
    with pytest.raises(gr.Error, match="Unknown checkpoint"):
        run_all(tiny_models, session, checkpoint="nope")
    assert inner_config(tiny_models.generators["glyphs-joint"].record).first_order


def test_a_zero_inner_lr_from_the_box_is_a_user_error(tiny_models, shots):
    session = Session()
    session.shots = list(shots)
    with pytest.raises(gr.Error, match="inner_lr must be a positive finite number"):
        run_all(tiny_models, session, inner_lr=0)


def test_sessions_are_private_and_bounded():
    import copy

    a = Session()
    a.shots.append(np.zeros((32, 32)))
    b = copy.deepcopy(a)  # what gr.State does for each new visitor
    assert b.shots == [] and b is not a


def test_results_panel_reads_assets_results_md(tmp_path):
    assert results_markdown(tmp_path) == NO_RESULTS
    (tmp_path / "results.md").write_text("| method | accuracy |\n|---|---|\n| cavia | 0.9 |\n")
    assert "cavia" in results_markdown(tmp_path)
