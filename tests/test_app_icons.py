"""The colour-icon world in the studio, with tiny untrained 3-channel checkpoints: domains, the switch,
a whole icon run through the engine and the handlers, the data credit, and wrong-domain input."""
import shutil

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from demo.runtime.domains import TWEMOJI, credit_line, credits, domain_of
from demo.runtime.engine import Settings, adapt_live
from demo.runtime.request import make_lanes
from demo.page.explain import icon_credits
from demo.page.handlers import make_run
from demo.runtime.session import Session
from demo.page.switch import PAGE, create_domain_switch, switch_domain
from meta.icons import icon_arrays
from meta.checkpoint import load_checkpoint

OUTPUTS = 9


@pytest.fixture(scope="module")
def icon_shots():
    return list(icon_arrays(shots=3)[0])  # three balloons, (3, 32, 32) each


def switched(models, domain, session) -> dict:
    return dict(zip(PAGE, switch_domain(models, domain, session), strict=True))


def test_each_checkpoint_has_a_domain_default_and_baseline(tiny_mixed_models, tiny_models, monkeypatch):
    m = tiny_mixed_models
    assert m.shipped_domains() == ["glyphs", "icons"]
    assert m.defaults == {"glyphs": "glyphs-cavia", "icons": "emoji-autodecoder"}
    assert m.baselines == {"glyphs": "glyphs-joint", "icons": "emoji-joint"}
    assert (m.default, m.baseline) == ("glyphs-cavia", "glyphs-joint")  # the studio starts in the glyph world
    assert [n for _, n in m.choices("icons")] == ["emoji-autodecoder", "emoji-joint"]
    assert "sketch context" in m.labels["emoji-autodecoder"]
    assert domain_of({"generator": {"channels": 1}, "data": {"dataset": "emoji"}}) == "icons"
    assert domain_of({"generator": {"channels": 1}, "data": {"dataset": "omniglot"}}) == "glyphs"
    assert tiny_models.shipped_domains() == ["glyphs"] and create_domain_switch(tiny_models).visible is False
    monkeypatch.setenv("INNER_LOOP_EXPERIMENTAL_ICONS", "1")
    with gr.Blocks():  # the experimental switch wires an event
        assert create_domain_switch(m).visible is True


def test_the_engine_streams_rgb_frames_for_icons(tiny_mixed_models, icon_shots):
    lanes = make_lanes(tiny_mixed_models, "emoji-autodecoder", None, True)
    assert set(lanes) == {"meta", "baseline"} and lanes["baseline"].generator.config.channels == 3  # emoji-joint
    frames = list(adapt_live(lanes, icon_shots, Settings(inner_steps=2, samples=4, sampler_steps=2)))
    assert [f.step for f in frames] == [0, 1, 2]
    for f in frames:
        assert all(s.shape == (4, 32, 32, 3) and s.dtype == np.uint8 for s in f.samples.values())
    assert set(frames[-1].query_loss) == {"meta", "baseline"}
    assert not np.array_equal(frames[0].samples["meta"], frames[-1].samples["meta"])
    with pytest.raises(ValueError, match="3-channel images, the shots have 1"):
        next(adapt_live(lanes, [s[0] for s in icon_shots], Settings(inner_steps=1)))


def test_a_whole_icon_run_through_the_handlers(tiny_mixed_models, tmp_path):
    session = Session()
    switched(tiny_mixed_models, "icons", session)
    outs = list(make_run(tiny_mixed_models)(None, 2, 0, checkpoint="emoji-autodecoder", samples=4, sampler_steps=2,
                                            session=session))
    assert len(outs) == 2 + 1 + 1 and all(len(o) == OUTPUTS for o in outs)
    final = outs[-1]
    assert final[0].mode == "RGB" and final[1].mode == "RGB" and "done" in final[3]
    before_after = final[4]
    assert before_after.mode == "RGB"
    assert np.asarray(before_after).std(-1).max() > 50  # colour, not grey
    with Image.open(final[6]) as gif:
        assert gif.n_frames == 3
        gif.seek(2)
        assert np.asarray(gif.convert("RGB")).std(-1).max() > 50
    assert len(final[2]["value"]) > 0 and len(final[8]["value"]) > 0  # the live chart and the losses have their curves
    shutil.unpack_archive(final[7], tmp_path / "unzipped")
    _, _, config, record = load_checkpoint(tmp_path / "unzipped")
    assert config.channels == 3 and record["adapted_from"] == "emoji-autodecoder"
    assert "Noto Color Emoji" in record["data"]["credit"]  # the credit travels with the adapted generator
    session.cleanup()


def test_switching_domain_changes_choices_examples_brush_and_clears_the_shots(tiny_mixed_models):
    m, session = tiny_mixed_models, Session()
    session.shots, session.run_id = [np.zeros((32, 32), np.float32)], 4
    out = switched(m, "icons", session)
    assert session.domain == "icons" and session.run_id == 5  # a running run stops and leaves the outputs alone
    assert session.shots and all(s.shape == (3, 32, 32) for s in session.shots)  # no glyph shot is left
    assert [c[1] for c in out["checkpoint"]["choices"]] == ["emoji-autodecoder", "emoji-joint"]
    assert out["checkpoint"]["value"] == "emoji-autodecoder" and out["inner_lr"] == 0.1
    assert out["example_set"]["choices"][0] == "Balloons" and len(out["gallery"]["value"]) == len(session.shots)
    assert len(out["sketch"]["brush"].colors) > 1 and out["sketch"]["value"] is None  # a colour brush, a fresh pad
    assert out["credit"]["visible"] and "Noto Color Emoji" in out["credit"]["value"]
    assert "emoji-joint" in out["lane_info"] and "colour icon" in out["header"]
    assert out["meta_grid"] is None and out["filmstrip"]["value"] is None  # the last run's outputs go
    assert "Balloons" in out["caption"] and not out["zip"]["interactive"]
    back = switched(m, "glyphs", session)
    assert all(s.shape == (32, 32) for s in session.shots) and back["checkpoint"]["value"] == "glyphs-cavia"
    assert not back["credit"]["visible"] and back["sketch"]["brush"].colors == ["#000000"]
    with pytest.raises(gr.Error, match="Unknown domain"):
        switch_domain(m, "sounds", session)


def test_wrong_domain_checkpoints_and_examples_are_user_errors(tiny_mixed_models, icon_shots, tmp_path):
    run = make_run(tiny_mixed_models)
    session = Session()
    session.shots = list(icon_shots)
    with pytest.raises(gr.Error, match=r"glyphs-cavia draws handwritten glyphs, but your 3 examples are colour icons"):
        list(run(None, 1, 0, checkpoint="glyphs-cavia", session=session))
    session.shots = [s[0] for s in icon_shots]  # glyph shots
    with pytest.raises(gr.Error, match="emoji-joint draws colour icons"):
        list(run(None, 1, 0, checkpoint="emoji-joint", session=session))
    # the API: uploads are read the way the chosen checkpoint draws (here in colour)
    path = tmp_path / "icon.png"
    Image.fromarray(((icon_shots[0].transpose(1, 2, 0) + 1) * 127.5).astype(np.uint8)).save(path)
    final = list(run([str(path)], 1, 0, checkpoint="emoji-autodecoder", samples=2, sampler_steps=2, session=session))[-1]
    assert "done" in final[3] and session.domain == "icons" and session.shots[0].shape == (3, 32, 32)
    session.cleanup()


def test_data_credits_include_twemoji_wherever_it_was_involved(tiny_mixed_models):
    noto = {"data": {"dataset": "emoji", "style": "noto", "credit": "Noto Color Emoji (Google), SIL OFL 1.1 / Apache 2.0"}}
    assert credits(noto) == [noto["data"]["credit"]]
    evaluated = {**noto, "evaluation": {"styles": ["noto", "twemoji"]}}
    assert credits(evaluated) == [noto["data"]["credit"], TWEMOJI]
    assert credits({"data": {"dataset": "emoji", "style": "twemoji", "credit": TWEMOJI}}, noto) == [TWEMOJI, noto["data"]["credit"]]
    assert credit_line({"data": {"dataset": "omniglot"}}) == ""  # glyphs owe no line under the pictures
    assert "Noto Color Emoji" in icon_credits(tiny_mixed_models)


def test_the_app_builds_with_both_worlds(tiny_mixed_models, tiny_mixed_assets, monkeypatch):
    from app import build_app

    monkeypatch.setenv("INNER_LOOP_EXPERIMENTAL_ICONS", "1")
    demo = build_app(tiny_mixed_models, tiny_mixed_assets)
    radios = [b for b in demo.blocks.values() if isinstance(b, gr.Radio)]
    assert len(radios) == 1 and radios[0].visible and [c[1] for c in radios[0].choices] == ["glyphs", "icons"]
    assert "glyph and icon" in demo.title


def test_the_icon_world_is_offered_only_behind_the_experimental_switch(tiny_mixed_models, tiny_mixed_assets, monkeypatch):
    """Its meta-learned start does not beat its baseline on the project's measures: not offered by default."""
    from app import build_app

    monkeypatch.delenv("INNER_LOOP_EXPERIMENTAL_ICONS", raising=False)
    demo = build_app(tiny_mixed_models, tiny_mixed_assets)
    (radio,) = [b for b in demo.blocks.values() if isinstance(b, gr.Radio)]
    (toggle,) = [b for b in demo.blocks.values() if isinstance(b, gr.Checkbox) and b.elem_id == "experimental"]
    assert not radio.visible and toggle.value is False and "Experimental" in toggle.label
    assert dict(radio.choices)["Colour icons (experimental)"] == "icons"
    for off in ("0", "", "false"):
        monkeypatch.setenv("INNER_LOOP_EXPERIMENTAL_ICONS", off)
        with gr.Blocks():
            assert create_domain_switch(tiny_mixed_models).visible is False
