"""The first impression and the shareable link: pre-computed runs of the built-in sets (played only for the
weights they were made with), the page's playback of them, and a link's parameters read one by one."""
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from demo.page import arrival
from demo.runtime.checkpoints import load_models
from demo.runtime.engine import Settings, adapt_live
from demo.runtime.first_run import DEFAULT, FOLDER, INDEX, FirstRuns, set_shots
from demo.runtime.likeness import likeness
from demo.runtime.link import Link, read_link
from demo.runtime.request import make_lanes
from demo.runtime.session import Session
from meta.checkpoint import Generator, save_checkpoint


@pytest.fixture(scope="module")
def models(outer_assets):
    return load_models(outer_assets, torch.device("cpu"))


def test_stored_frames_are_the_frames_of_a_live_run(models, outer_assets):
    stored = FirstRuns(outer_assets, models).find("glyphs-cavia", "Knot", replace(DEFAULT, inner_steps=3))
    assert stored.entry["steps"] == DEFAULT.inner_steps and stored.entry["baseline"] == "glyphs-joint"
    measure = likeness(outer_assets, "glyphs", set_shots("glyphs", "Knot"))  # the live chart's measure
    live = list(adapt_live(make_lanes(models, "glyphs-cavia", None, True), set_shots("glyphs", "Knot"),
                           replace(DEFAULT, inner_steps=3), score=measure.score))
    assert stored.ceiling == pytest.approx(measure.ceiling) and set(stored.names) == {"meta", "baseline"}
    assert [f.step for f in stored.frames] == [0, 1, 2, 3]  # a shorter run is the first frames of the stored one
    for a, b in zip(stored.frames, live):
        assert set(a.samples) == {"meta", "baseline"}
        assert all(np.array_equal(a.samples[k], b.samples[k]) for k in a.samples)
        assert a.support_loss == pytest.approx(b.support_loss) and a.query_loss == pytest.approx(b.query_loss)
        assert set(a.likeness) == {"meta", "baseline"} and a.likeness == pytest.approx(b.likeness)
    size = sum(p.stat().st_size for p in (outer_assets / FOLDER).iterdir())
    assert size < 400_000  # one set, 21 frames, two lanes


def test_frames_made_with_other_weights_or_settings_are_refused(models, outer_assets, tmp_path):
    runs = FirstRuns(outer_assets, models)
    ok = replace(DEFAULT, inner_steps=DEFAULT.inner_steps)
    assert runs.find("glyphs-cavia", "Knot", ok) is not None and runs.stale() == []
    assert runs.find("glyphs-cavia", "Knot", replace(ok, seed=1)) is None  # other noise
    assert runs.find("glyphs-cavia", "Knot", replace(ok, inner_steps=DEFAULT.inner_steps + 1)) is None  # longer than stored
    assert runs.find("glyphs-cavia", "Star", ok) is None and runs.find("glyphs-joint", "Knot", ok) is None
    for changed in ("glyphs-cavia", "glyphs-joint"):  # either lane's weights changed by a hair
        copy = tmp_path / changed
        shutil.copytree(outer_assets, copy)
        g = Generator.load(copy / changed)
        key = next(k for k in g.params if k.endswith("weight"))
        g.params[key] = g.params[key] * 1.001
        save_checkpoint(copy / changed, g.unet, g.params, g.config, g.record)
        other = FirstRuns(copy, load_models(copy, torch.device("cpu")))
        assert other.find("glyphs-cavia", "Knot", ok) is None
        assert other.stale() == ["glyphs-cavia / Knot"]
    # scores made by another judge are not shown: the frames play with an empty chart
    index = json.loads((outer_assets / FOLDER / INDEX).read_text())
    index["entries"][0]["judge"] = "0" * 64
    other_judge = tmp_path / "other-judge"
    shutil.copytree(outer_assets, other_judge)
    (other_judge / FOLDER / INDEX).write_text(json.dumps(index))
    stored = FirstRuns(other_judge, models).find("glyphs-cavia", "Knot", ok)
    assert stored is not None and stored.ceiling is None and all(f.likeness == {} for f in stored.frames)
    (tmp_path / "glyphs-cavia" / FOLDER / INDEX).write_text("{not json")
    assert FirstRuns(tmp_path / "glyphs-cavia", models).entries == []  # unreadable: nothing to play, no crash


def test_the_page_plays_a_stored_run_and_gives_way_to_a_run(models, outer_assets, monkeypatch):
    monkeypatch.setattr(arrival, "PLAY_EVERY", 0.0)
    runs, session, playback = FirstRuns(outer_assets, models), Session(), arrival.Playback()
    head = ("set", "gallery")
    outs = list(arrival.play(runs, "glyphs-cavia", "Knot", 20, 0, session, playback, head))
    assert len(outs) == 21 and outs[0][:2] == head and all(o[:2] == (arrival.gr.skip(),) * 2 for o in outs[1:])
    assert outs[0][2].size == outs[-1][2].size and outs[0][3] is not None  # both lanes' grids
    assert "**Step 20 of 20** · done" in outs[-1][5] and "pre-computed run of the example set *Knot*" in outs[-1][5]
    assert "**Step 0 of 20**" in outs[0][5]
    chart = outs[-1][4]["value"]  # the live chart fills in as it plays: each side's score, and the ceiling
    assert set(chart["curve"]) >= {"meta-learned", "ordinary"} and chart["step"].max() == 20
    assert len(outs[0][4]["value"]) < len(chart)
    assert outs[-1][2] != outs[0][2]
    # a run (or a reset) bumps the session's run id: the playback stops at its next frame
    stream = arrival.play(runs, "glyphs-cavia", "Knot", 20, 0, session, playback, head)
    next(stream), next(stream)
    session.run_id += 1
    assert list(stream) == []
    # a newer playback ends the older one
    older = arrival.play(runs, "glyphs-cavia", "Knot", 20, 0, session, playback)
    next(older)
    next(arrival.play(runs, "glyphs-cavia", "Knot", 20, 0, session, playback))
    assert list(older) == []
    # nothing stored for these settings: only the head, and the live outputs are left alone
    (only,) = list(arrival.play(runs, "glyphs-cavia", "Knot", 20, 9, session, playback, head))
    assert only[:2] == head and only[2:] == (arrival.gr.skip(),) * 4
    assert list(arrival.play(runs, "glyphs-cavia", "Star", 20, 0, session, playback)) == []
    alone = list(arrival.play(runs, "glyphs-cavia", "Knot", 3, 0, session, playback, baseline=False))
    curves = set(alone[-1][2]["value"]["curve"])  # the comparison lane's tick box off: its grid and curve left out
    assert len(alone) == 4 and alone[-1][1] is None and "meta-learned" in curves and "ordinary" not in curves
    session.running = True  # the visitor's own run is going: a picked set does not draw over it
    assert list(arrival.play(runs, "glyphs-cavia", "Knot", 20, 0, session, playback)) == []


def test_precompute_writes_every_built_in_set_of_the_first_world(tiny_mixed_assets, tmp_path):
    from demo.tools.precompute import main

    folder = tmp_path / "assets"
    shutil.copytree(tiny_mixed_assets, folder)
    main(["--assets", str(folder), "--steps", "1"])
    entries = json.loads((folder / FOLDER / INDEX).read_text())["entries"]
    assert [e["example_set"] for e in entries] == ["Knot", "Dots and curve", "Star", "Hook and dot", "Bowl and dot", "Fish"]
    assert {e["checkpoint"] for e in entries} == {"glyphs-cavia"} and all(e["steps"] == 1 for e in entries)
    assert all(e["judge"] and 0 <= e["ceiling"] <= 1 for e in entries)  # scored by the shipped judge, as a live run is
    runs = FirstRuns(folder, load_models(folder, torch.device("cpu")))
    stored = runs.find("glyphs-cavia", "Fish", Settings(inner_steps=1))
    assert stored is not None and all(set(f.likeness) == {"meta", "baseline"} for f in stored.frames)


def test_a_link_is_read_parameter_by_parameter(models):
    link, notes = read_link({"set": "Star", "checkpoint": "glyphs-joint", "steps": "7", "seed": "12"}, models, "glyphs")
    assert link == Link("Star", "glyphs-joint", 7, 12) and notes == []
    assert Link("Star", "glyphs-joint", 7, 12).query() == "set=Star&checkpoint=glyphs-joint&steps=7&seed=12"
    default, notes = read_link({}, models, "glyphs")
    assert default == Link("Knot", "glyphs-cavia", DEFAULT.inner_steps, DEFAULT.seed) and notes == []
    link, notes = read_link({"set": "Nope", "steps": "1e9", "seed": "abc", "checkpoint": "../etc", "__theme": "dark",
                             "colour": "red"}, models, "glyphs")
    assert link == default  # every bad part ignored, the rest still the defaults
    text = " ".join(notes)
    for said in ("example set 'Nope'", "checkpoint '..", "Inner steps must be a whole number from 1 to 100",
                 "seed: Seed must be a whole number, got 'abc'", "Unknown link parameter colour"):
        assert said in text
    assert "__theme" not in text  # Gradio's own parameters are not ours to judge
    link, notes = read_link({"set": "<img src=x onerror=alert(1)>" + "x" * 100, "steps": "4.0"}, models, "glyphs")
    assert link.inner_steps == 4 and "<" not in notes[0] and len(notes[0]) < 200


@pytest.mark.slow
def test_the_shipped_runs_are_small_and_made_with_the_shipped_weights():
    """assets/first-run: under 2 MB, every built-in set of the first world on the default checkpoint, none stale
    (after retraining a shipped checkpoint: python -m demo.tools.precompute --assets assets)."""
    from pathlib import Path

    from demo.runtime.shots import example_sets

    assets = Path(__file__).resolve().parents[1] / "assets"
    if not (assets / FOLDER / INDEX).exists():
        pytest.skip("no pre-computed runs shipped")
    assert sum(p.stat().st_size for p in (assets / FOLDER).iterdir()) < 2_000_000
    shipped = load_models(assets, torch.device("cpu"))
    runs = FirstRuns(assets, shipped)
    start = shipped.shipped_domains()[0]
    assert {(e["checkpoint"], e["example_set"]) for e in runs.entries} >= {(shipped.defaults[start], n) for n in example_sets(start)}
    assert runs.stale() == []
