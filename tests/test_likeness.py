"""The live chart's measure with the shipped judge (assets/judge): your own examples pass, another
character and noise do not, the ceiling is the examples scored leave-one-out, and a "distractor" that is
your character is left out. The status line says in words which lane is ahead."""
from pathlib import Path

import numpy as np
import pytest
import torch

from demo.runtime.engine import Frame
from demo.runtime.likeness import DISTRACTOR_GLYPHS, Likeness, likeness, reference
from demo.runtime.render import likeness_table, status_line
from demo.runtime.shots import example_sets, glyph_from_image
from meta.glyphs import draw
from meta.images import to_glyph

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def as_samples(shots) -> np.ndarray:
    """Shots in [-1, 1] -> uint8 samples, as the engine streams them."""
    return ((np.stack(shots) + 1) * 127.5).round().clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sets():
    return {name: [glyph_from_image(im, name) for im in ims] for name, ims in example_sets().items()}


def test_your_examples_pass_another_character_and_noise_do_not(sets):
    knot, star = sets["Knot"], sets["Star"]
    measure = likeness(ASSETS, "glyphs", knot)
    assert measure.ceiling == 1.0 and 0 < measure.radius < float("inf") and len(measure.distractors) == len(DISTRACTOR_GLYPHS)
    more_knots = [to_glyph(draw(2, d)) for d in range(10, 16)]  # new drawers of the same character
    assert measure.score(as_samples(more_knots)) >= 0.5
    assert measure.score(as_samples(star)) == 0.0
    noise = np.random.default_rng(0).integers(0, 256, (6, 32, 32), dtype=np.uint8)
    assert measure.score(noise) == 0.0 and measure.score(np.zeros((6, 32, 32), np.uint8)) == 0.0


def test_one_example_has_no_spread_and_no_ceiling(sets):
    measure = likeness(ASSETS, "glyphs", sets["Knot"][:1])
    assert measure.ceiling is None and measure.radius == float("inf") and len(measure.distractors) == len(DISTRACTOR_GLYPHS)
    assert measure.score(as_samples(sets["Knot"][1:])) >= 0.5  # only the nearest-prototype test applies
    assert measure.score(as_samples(sets["Star"])) == 0.0


def test_a_distractor_that_is_your_character_is_left_out():
    mine = [to_glyph(draw(DISTRACTOR_GLYPHS[0], d)) for d in range(10, 15)]
    measure = Likeness(reference(ASSETS, "glyphs"), mine)
    assert len(measure.distractors) == len(DISTRACTOR_GLYPHS) - 1
    assert likeness(None, "glyphs", mine) is None  # no assets folder: no judge, no chart


def test_the_status_says_which_lane_is_ahead_and_the_chart_has_the_ceiling():
    names = {"meta": "meta-learned", "baseline": "ordinary"}
    samples = {"meta": np.zeros((6, 32, 32), np.uint8), "baseline": np.zeros((6, 32, 32), np.uint8)}
    frame = Frame(4, samples, {"meta": 0.1, "baseline": 0.1}, {}, 2.0, likeness={"meta": 4 / 6, "baseline": 1 / 6})
    line = status_line(frame, 20, names, torch.device("cpu"))
    assert line.startswith("**Step 4 of 20**") and "the meta-learned start is ahead: 4 of 6" in line.lower()
    assert "(ordinary: 1 of 6)" in line and "0.5 s a step on the CPU" in line
    level = Frame(5, samples, {}, {}, 2.5, likeness={"meta": 0.5, "baseline": 0.5})
    assert "Level: 3 of 6 samples on each side look like" in status_line(level, 5, names, done=True)
    assert "· done ·" in status_line(level, 5, names, done=True)
    table = likeness_table([frame], names, 0.8, 20)
    ceiling = table[table["curve"] == "your own examples (ceiling)"]
    assert list(ceiling["step"]) == [0, 20] and list(ceiling["percent"]) == [80.0, 80.0]
