"""The shared scheduler: concurrent runs in batches get the frames they get alone; one visitor's stop,
disconnect, failure or hostile upload touches no other run; waiting runs hear their place."""
import threading
import time

import gradio as gr
import numpy as np
import pytest
import torch

from demo.runtime import scheduler as sched_module
from demo.runtime.batch import MIN_ROWS
from demo.runtime.checkpoints import load_models, write_random_checkpoints
from demo.runtime.engine import Frame, adapt_live
from demo.runtime.request import make_lanes, run_settings
from demo.runtime.scheduler import Scheduler, Waiting, expected_waits
from demo.runtime.shots import example_sets, glyph_from_image
from meta.model import GeneratorConfig


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Small untrained checkpoints (16/32 channels: the matrix shapes of the shipped ones, unlike the
    tiny test models, whose 8-channel products change code path at 16+ rows)."""
    folder = write_random_checkpoints(tmp_path_factory.mktemp("small"), GeneratorConfig(block_out_channels=(16, 32)))
    return load_models(folder, torch.device("cpu"))


@pytest.fixture(scope="module")
def sets():
    return [[glyph_from_image(im, "example") for im in s] for s in example_sets().values()]


def spec(i: int, steps: int = 3, **kw) -> dict:
    """Run i: its own examples (1-4 of set i), seed and learning rate; the studio's preview shape."""
    return dict(set=i % 6, shots=1 + i % 4, seed=i, inner_lr=(None, 0.3, 0.05)[i % 3], steps=steps, **kw)


def frames_of(models, sets, s: dict, scheduler=None, should_stop=lambda: False, baseline=True, score=None):
    lanes = make_lanes(models, s.get("checkpoint", models.default), s["inner_lr"], baseline)
    shots = sets[s["set"]][: s["shots"]]
    settings = run_settings(s["steps"], s.get("samples", 2), s.get("sampler_steps", 2), s["seed"])
    if scheduler:
        return list(scheduler.frames(lanes, shots, settings, should_stop, score))
    return list(adapt_live(lanes, shots, settings, should_stop, score))


def invariant_kernels(models) -> bool:
    """Do this machine's kernels give a row the same bits at MIN_ROWS and at 3 x MIN_ROWS rows?
    (With one torch thread on the CPUs measured, yes; elsewhere the frames must still agree to a pixel level.)"""
    g = models.generators[models.default]
    x = torch.randn(3 * MIN_ROWS, g.unet.config.in_channels, 32, 32, generator=torch.Generator().manual_seed(0))
    t = torch.arange(3 * MIN_ROWS) * 70
    w = {k: v for k, v in g.params.items() if k != "context"}
    with torch.no_grad():
        run = lambda n: torch.func.functional_call(g.unet, w, (x[:n], t[:n])).sample
        return torch.equal(run(MIN_ROWS), run(3 * MIN_ROWS)[:MIN_ROWS])


def assert_same_frames(a: list, b: list, exact: bool) -> None:
    a, b = [f for f in a if isinstance(f, Frame)], [f for f in b if isinstance(f, Frame)]
    assert [f.step for f in a] == [f.step for f in b]
    for fa, fb in zip(a, b):
        assert fa.samples.keys() == fb.samples.keys()
        for lane in fa.samples:
            if exact:
                np.testing.assert_array_equal(fa.samples[lane], fb.samples[lane])
            else:  # a float tolerance the 8-bit pixels do not show: one level, on a few pixels at most
                diff = np.abs(fa.samples[lane].astype(int) - fb.samples[lane])
                assert diff.max() <= 1 and (diff > 0).mean() <= 0.005
        for mine, theirs in ((fa.support_loss, fb.support_loss), (fa.query_loss, fb.query_loss)):
            assert mine.keys() == theirs.keys()
            if exact:
                assert mine == theirs
            else:
                assert all(abs(mine[k] - theirs[k]) <= 1e-4 * abs(theirs[k]) for k in mine)


def run_together(models, sets, specs, scheduler, stops=None):
    out = [None] * len(specs)
    stops = stops or [lambda: False] * len(specs)

    def go(i):
        try:
            out[i] = frames_of(models, sets, specs[i], scheduler, stops[i], score=specs[i].get("score"))
        except Exception as err:  # noqa: BLE001 -- the test looks at it
            out[i] = err

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(specs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


@pytest.fixture
def groups(monkeypatch):
    """Group sizes the scheduler advanced; the first turn is slowed so that later runs queue up and batch."""
    sizes, real = [], sched_module.advance

    def spy(runs, *args):
        if not sizes:
            time.sleep(0.3)
        sizes.append(len(runs))
        return real(runs, *args)

    monkeypatch.setattr(sched_module, "advance", spy)
    return sizes


@pytest.mark.slow
def test_runs_batched_together_get_the_frames_they_get_alone(models, sets, groups):
    specs = [spec(i, steps=2) for i in range(5)] + [spec(5, samples=3), spec(6, samples=3, steps=4)]
    specs += [spec(7, checkpoint="glyphs-joint"), spec(11, checkpoint="glyphs-joint")]  # full-parameter starts
    together = Scheduler(workers=2, batch=4, max_active=7)
    try:
        shared = run_together(models, sets, specs, together)
    finally:
        together.close()
    assert max(groups) > 1  # some turns did batch several runs
    exact = invariant_kernels(models)
    for s, frames in zip(specs, shared):
        alone = Scheduler()
        try:
            assert_same_frames(frames, frames_of(models, sets, s, alone), exact)
        finally:
            alone.close()
        # and the one-at-a-time engine's frames, equal where its own batches are MIN_ROWS+ images, else within a pixel level
        assert_same_frames(frames, frames_of(models, sets, s), exact=False)
    waited = [f for frames in shared for f in frames if isinstance(f, Waiting)]
    assert waited and all(w.position >= 1 for w in waited)  # 9 runs, 7 places: two waited, and were told


def test_the_live_charts_score_comes_with_every_frame_as_the_engine_gives_it(models, sets):
    """Given the chart's measure (here a stand-in that sees every pixel), each scheduled frame carries each
    lane's score of its own samples, as engine.adapt_live's frames do; without one, none."""
    score = lambda samples: float(samples.astype(np.float64).mean() / 255)  # noqa: E731
    s = Scheduler(workers=2, batch=4)
    try:
        out = run_together(models, sets, [spec(0, steps=2, score=score), spec(4, steps=2, score=score)], s)
        plain = frames_of(models, sets, spec(0, steps=2), s)
    finally:
        s.close()
    assert all(f.likeness == {} for f in plain if isinstance(f, Frame))
    for i, frames in zip((0, 4), out):
        frames = [f for f in frames if isinstance(f, Frame)]
        assert [f.step for f in frames] == [0, 1, 2] and all(set(f.likeness) == {"meta", "baseline"} for f in frames)
        assert all(f.likeness[lane] == score(f.samples[lane]) for f in frames for lane in f.samples)
        engine = frames_of(models, sets, spec(i, steps=2), score=score)
        assert_same_frames(frames, engine, exact=False)
        for mine, theirs in zip(frames, engine):
            assert mine.likeness == pytest.approx(theirs.likeness, abs=1e-3)


def test_a_failing_or_diverging_run_leaves_the_others_alone(models, sets, monkeypatch):
    real = sched_module.advance

    def fails_for_seed_13(runs, *args):
        if any(r.settings.seed == 13 for r in runs):
            raise RuntimeError("this run's data breaks the network")
        return real(runs, *args)

    monkeypatch.setattr(sched_module, "advance", fails_for_seed_13)
    specs = [spec(0), spec(13), spec(4), dict(spec(8), inner_lr=999.0)]  # seed 13 fails; inner_lr 999 diverges
    s = Scheduler(workers=1, batch=4)
    try:
        out = run_together(models, sets, specs, s)
        assert isinstance(out[1], RuntimeError) and "breaks" in str(out[1])
        assert [f.step for f in out[3]] == [0, 1, 2, 3]  # the diverging run runs on (the page stops it)
        alone = [frames_of(models, sets, specs[i], s) for i in (0, 2)]
    finally:
        s.close()
    exact = invariant_kernels(models)
    assert_same_frames(out[0], alone[0], exact)
    assert_same_frames(out[2], alone[1], exact)


def test_stop_and_a_closed_stream_end_one_run_only(models, sets):
    s = Scheduler(workers=2, batch=4)
    stop = threading.Event()
    specs = [spec(1, steps=6), spec(5, steps=6), spec(9, steps=4)]
    try:
        # run 0 stops after its step 1, run 1's visitor leaves after step 0, run 2 goes to the end
        lanes = lambda i: make_lanes(models, models.default, specs[i]["inner_lr"], True)
        shots = lambda i: sets[specs[i]["set"]][: specs[i]["shots"]]
        settings = lambda i: run_settings(specs[i]["steps"], 2, 2, specs[i]["seed"])
        streams = [s.frames(lanes(0), shots(0), settings(0), stop.is_set), s.frames(lanes(1), shots(1), settings(1))]
        first = [next(streams[0]), next(streams[1])]
        streams[1].close()  # a disconnect
        second = next(streams[0])
        stop.set()
        rest = list(streams[0])
        full = frames_of(models, sets, specs[2], s)
        with s._cond:
            assert s._active == [] and not s._waiting  # nothing left holding a place
        by_itself = Scheduler()
        try:
            alone = frames_of(models, sets, specs[2], by_itself)
        finally:
            by_itself.close()
    finally:
        s.close()
    assert [f.step for f in first] == [0, 0] and second.step == 1 and rest == []  # nothing made after Stop is shown
    assert [f.step for f in full] == [0, 1, 2, 3, 4]
    assert_same_frames(full, alone, invariant_kernels(models))


def test_waiting_runs_hear_their_place_and_can_leave_the_line(models, sets):
    s = Scheduler(workers=1, batch=1, max_active=1)
    leave = threading.Event()
    try:
        first = s.frames(make_lanes(models, models.default, None, True), sets[0][:2], run_settings(12, 2, 2, 0))
        assert next(first).step == 0  # it holds the only place
        second = s.frames(make_lanes(models, models.default, None, True), sets[1][:2], run_settings(2, 2, 2, 1))
        third = s.frames(make_lanes(models, models.default, None, True), sets[2][:2], run_settings(2, 2, 2, 2), leave.is_set)
        told = next(second)
        assert isinstance(told, Waiting) and told.position == 1 and told.active == 1
        told = next(third)
        assert told.position == 2 and told.active == 1
        leave.set()
        assert list(third) == []  # Stop while waiting: it leaves the line without a frame
        for f in first:  # the first run goes on meanwhile ...
            pass
        frames = [f for f in second if isinstance(f, Frame)]  # ... and then the second gets its turn
        assert [f.step for f in frames] == [0, 1, 2]
    finally:
        s.close()
    assert s.frame_s is not None and s.frame_s > 0


def test_expected_waits_follow_the_rounds():
    # two places, runs with 3 and 5 frames left, 1 s per frame per round: the first queued run starts
    # when the 3-frame run ends (3 rounds of 2 frames: 6 s), the next when the 5-frame one does
    # (2 more rounds of 2: 10 s)
    assert expected_waits([3, 5], [4, 4], slots=2, frame_s=1.0) == [6.0, 10.0]
    assert expected_waits([3], [4], slots=2, frame_s=1.0) == [0.0]  # a free place: no wait
    with pytest.raises(ValueError):
        Scheduler(batch=0)


def test_the_page_shows_the_line_and_a_hostile_upload_touches_no_other_run(models, sets, tmp_path):
    from demo.page.handlers import make_run
    from demo.runtime.session import Session

    s = Scheduler(workers=1, batch=2, max_active=1)
    models_with = type(models)(**{**models.__dict__, "scheduler": s})
    bad = tmp_path / "not-a-picture.png"
    bad.write_bytes(b"<script>alert(1)</script>" * 100)
    sessions = [Session(), Session()]
    for session, shots in zip(sessions, (sets[0][:3], sets[3][:2])):
        session.shots = list(shots)
    adapt = make_run(models_with)
    outs = [None, None]

    steps = (12, 3)  # the first run is still going when the second arrives

    def go(i):
        outs[i] = list(adapt(None, steps[i], i, samples=2, sampler_steps=2, session=sessions[i]))

    try:
        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        threads[0].start()
        while not sessions[0].frames:
            time.sleep(0.01)
        threads[1].start()
        with pytest.raises(gr.Error):  # a third visitor's hostile upload: their error, nobody else's
            list(adapt([str(bad)], 3, 7, session=Session()))
        for t in threads:
            t.join(120)
    finally:
        s.close()
    waiting = [o for o in outs[1] if isinstance(o[3], str) and o[3].startswith("**Waiting for a turn**")]
    assert waiting and "number 1 in line" in waiting[0][3]
    for out, session, n in zip(outs, sessions, steps):
        assert "done" in out[-1][3] and [f.step for f in session.frames] == list(range(n + 1))
