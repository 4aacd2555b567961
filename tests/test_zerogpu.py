"""Hosting on a ZeroGPU Space: how much GPU a run asks for, what crosses the worker boundary, what a
visitor sees when no GPU is lent, and that nothing starts CUDA outside the lent GPU's worker."""
import subprocess
import sys
from multiprocessing.reduction import ForkingPickler  # how ZeroGPU's worker queues send arguments and results
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from demo.page.zerogpu import frames_on_borrowed_gpu, refusal
from demo.runtime.engine import Settings, adapt_live
from demo.runtime.fallback import CPU
from demo.runtime.request import make_lanes
from demo.runtime.shots import example_sets, glyph_from_image
from demo.runtime.zerogpu import GPU_START_S, MAX_GPU_S, borrowed_frames, run_seconds, with_start_params
from meta.model import CONTEXT
from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUN = dict(inner_steps=20, samples=PREVIEW_SAMPLES, sampler_steps=PREVIEW_STEPS, baseline=True)  # the page's defaults
QUOTA = gr.Error("You have exceeded your free ZeroGPU quota (15s requested vs. 3s left). Try again in 13:20:00.",
                 title="ZeroGPU quota exceeded", print_exception=False)  # what `spaces` raises (spaces/zero/client.py)


@pytest.fixture(scope="module")
def shots():
    return [glyph_from_image(im, "example") for im in next(iter(example_sets().values()))][:3]


def test_gpu_duration_asks_for_what_the_run_needs():
    from demo.handlers import gpu_duration  # the short path

    default = gpu_duration(**DEFAULT_RUN)
    assert 10 <= default <= 30 and default <= 60 and default == int(default)
    assert gpu_duration(20, 6, 8, baseline=False) < default  # one lane instead of two
    assert gpu_duration(100, 16, 50, True) == MAX_GPU_S and gpu_duration(1, 1, 1, False) >= GPU_START_S
    values = (1, 2, 5, 20, 50, 100)
    for name in ("inner_steps", "samples", "sampler_steps", "baseline"):  # more of anything never asks for less
        grid = (False, True) if name == "baseline" else values
        asked = [gpu_duration(**{**DEFAULT_RUN, name: v}) for v in grid]
        assert asked == sorted(asked), (name, asked)
        assert asked[0] < asked[-1] or asked[-1] == MAX_GPU_S, name
    # the run stops itself within the time it asked for, and within the page's own limit
    assert run_seconds(240, **DEFAULT_RUN) == default - GPU_START_S and run_seconds(3, **DEFAULT_RUN) == 3


def test_off_zero_gpu_the_spaces_decorator_leaves_the_run_as_it_is():
    """(On ZeroGPU it calls `duration` with the run's own arguments: the stand-in Space below checks the
    seconds it asks for.)"""
    import spaces

    def gen():
        yield 1

    assert spaces.GPU(duration=lambda: 1)(gen) is gen


def test_borrowed_frames_are_the_runs_frames_in_cpu_data_that_can_be_sent(tiny_models, shots):
    settings = Settings(inner_steps=2, samples=2, sampler_steps=2)
    lanes = make_lanes(tiny_models, tiny_models.default, None, True)
    args = (tiny_models.default, None, True, shots, settings, 60.0)
    ForkingPickler.dumps(args)  # what ZeroGPU sends to its worker: it can be sent
    borrowed = list(borrowed_frames(tiny_models, *args))
    here = list(adapt_live(lanes, shots, settings))
    for (device, frame), same in zip(borrowed, here, strict=True):
        assert device == "cpu"
        ForkingPickler.dumps((device, frame))  # what comes back from the worker: it can be sent
        # only what the run changed is sent, on the CPU: the context of the context lane, every weight of the baseline's
        assert set(frame.params["meta"]) == (set() if frame.step == 0 else {CONTEXT})
        assert all(v.device == CPU for p in frame.params.values() for v in p.values())
        samples, losses = frame.samples, (frame.support_loss, frame.query_loss)
        full = with_start_params(frame, lanes)
        assert all(torch.equal(full.params[n][k], same.params[n][k]) for n in same.params for k in same.params[n])
        assert all(np.array_equal(samples[n], same.samples[n]) for n in same.samples)
        assert losses == (same.support_loss, same.query_loss)


def fake_gpu(fail_after: int | None, error: Exception, tiny_models):
    """A run_on_gpu that fails (as `spaces` does when no GPU is lent) after `fail_after` frames (None: never)."""
    calls = []

    def run_on_gpu(*args):
        calls.append(args)
        # the GPU time asked for is a GPU's: on this (shared) CPU the run may take longer
        for i, item in enumerate(borrowed_frames(tiny_models, *args[:5], 600.0)):
            if i == fail_after:
                raise error
            yield item

    return run_on_gpu, calls


@pytest.mark.parametrize("fail_after", [0, 2])
def test_no_gpu_lent_or_a_gpu_failure_tells_the_visitor_and_the_run_goes_on_on_the_cpu(tiny_models, shots, fail_after):
    settings = Settings(inner_steps=3, samples=2, sampler_steps=2)
    lanes = make_lanes(tiny_models, tiny_models.default, None, True)
    devices = []
    run_on_gpu, calls = fake_gpu(fail_after, QUOTA, tiny_models)
    with pytest.warns(UserWarning, match=r"ZeroGPU quota exceeded: You have exceeded your free ZeroGPU quota "
                                         r"\(15s requested vs. 3s left\). Try again in 13:20:00. (Running it|Starting the run over) on the CPU"):
        frames = list(frames_on_borrowed_gpu(run_on_gpu, lanes, tiny_models.default, None, shots, settings, 240,
                                             lambda: False, devices.append))
    assert [f.step for f in frames] == list(range(fail_after)) + [0, 1, 2, 3]  # the CPU run starts from step 0
    assert devices == ["cpu (ZeroGPU)"] * (fail_after > 0) + [CPU]
    assert calls[0][2] is True and calls[0][5] == run_seconds(240, 3, 2, 2, True)  # baseline lane, the GPU's time limit
    assert "RuntimeError: boom" in refusal(RuntimeError("boom"))


def test_stop_closes_the_borrowed_stream(tiny_models, shots):
    settings = Settings(inner_steps=50, samples=2, sampler_steps=2)
    lanes = make_lanes(tiny_models, tiny_models.default, None, False)
    closed, got = [], []

    def run_on_gpu(*args):
        try:
            yield from borrowed_frames(tiny_models, *args[:5], 600.0)
        finally:
            closed.append(True)  # ZeroGPU then tells its worker to stop

    frames = frames_on_borrowed_gpu(run_on_gpu, lanes, tiny_models.default, None, shots, settings, 240,
                                    lambda: len(got) >= 2, lambda d: None)
    for frame in frames:
        got.append(frame)
    assert [f.step for f in got] == [0, 1] and closed == [True]


def test_the_page_on_zero_gpu_runs_through_the_lent_gpu_and_exports_the_adapted_generator(tiny_models, monkeypatch):
    """SPACES_ZERO_GPU set: the run goes through the borrowed-GPU path (here `spaces.GPU` leaves it in
    this process: the package read the variable when it was imported); the session and downloads stay here."""
    from demo.page.handlers import make_run
    from demo.runtime.session import Session

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setattr("demo.page.zerogpu.run_seconds", lambda limit, *run: limit)  # a GPU's time, not this CPU's
    session = Session()
    session.shots = [glyph_from_image(im, "example") for im in next(iter(example_sets().values()))][:3]
    outs = list(make_run(tiny_models)(None, 2, 0, samples=2, sampler_steps=2, session=session))
    final = outs[-1]
    assert "done" in final[3] and "a lent GPU (ZeroGPU)" in final[3] and final[7].endswith(".zip")
    assert [f.step for f in session.frames] == [0, 1, 2] and session.params["meta"][CONTEXT].device == CPU
    assert set(session.params["meta"]) == set(tiny_models.generators[tiny_models.default].params)


IMPORT_ALL = """
import importlib, sys, torch
def no_cuda(*a, **k):
    raise RuntimeError("CUDA initialised at import")
torch.cuda._lazy_init = torch.cuda.init = torch._C._cuda_init = no_cuda
for m in sys.argv[1:]:
    importlib.import_module(m)
assert not torch.cuda.is_initialized()
print("ok", len(sys.argv) - 1)
"""


def test_no_module_starts_cuda_at_import():
    """On ZeroGPU the studio's process must never start CUDA (only the lent GPU's worker may); this
    would also fail on a machine with a GPU, where starting CUDA at import would succeed silently."""
    from test_structure import module_files

    modules = sorted(module_files())  # meta.*, demo.*, app
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL, *modules], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["ok", str(len(modules))]


# ---- a ZeroGPU Space on this machine: the real `spaces` package, a stand-in device API (tests/zerogpu_stub.py) ----

@pytest.fixture(scope="module")
def zero_gpu_space(tiny_assets):
    from demo.tools.server import serve
    from zerogpu_stub import DeviceAPI

    api = DeviceAPI()
    env = {"SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": api.url}
    try:
        with serve(tiny_assets, env=env, app=ROOT / "tests" / "zerogpu_stub.py", timeout=180) as server:
            yield server.url, api
    finally:
        api.close()


@pytest.fixture(scope="module")
def drawings(tmp_path_factory):
    from PIL import Image, ImageDraw

    paths = []
    for i in range(3):
        im = Image.new("RGB", (100, 100), "white")
        ImageDraw.Draw(im).line([(20, 20 + 5 * i), (80, 80), (20, 80)], fill="black", width=8)
        paths.append(tmp_path_factory.mktemp("drawings") / f"glyph-{i}.png")
        im.save(paths[-1])
    return paths


def submit(url, drawings, steps):
    from gradio_client import Client, handle_file

    client = Client(url, download_files=False, verbose=False)
    job = client.submit(images=[handle_file(str(p)) for p in drawings], inner_steps=steps, seed=0, samples=4,
                        sampler_steps=2, api_name="/adapt")
    return client, job


def toasts(job) -> list[str]:
    """The warnings the page showed during a job (gradio_client keeps them as log updates in its queue)."""
    return [u.log[0] for u in list(job.communicator.updates._queue) if getattr(u, "log", None)]


@pytest.mark.slow
def test_on_a_zero_gpu_space_a_run_borrows_a_gpu_for_the_seconds_it_needs(zero_gpu_space, drawings):
    from demo.handlers import gpu_duration

    url, api = zero_gpu_space
    api.mode = "lend"
    _, job = submit(url, drawings, 3)
    job.result(timeout=180)
    statuses = [o[3] for o in job.outputs()]
    assert [s.split("**")[1] for s in statuses[:4]] == [f"Step {k} of 3" for k in range(4)]
    final = job.outputs()[-1]
    assert "done" in final[3] and "a lent GPU (ZeroGPU)" in final[3]  # computed in the lent worker
    assert final[4] and ".gif" in str(final[6]) and ".zip" in str(final[7])  # downloads made in the studio's process
    assert api.schedules[-1]["durationSeconds"] == str(int(gpu_duration(3, 4, 2, True)))
    assert api.calls[-2:] == ["/allow", "/release"] or "/release" in api.calls


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["quota", "no_gpu"])
def test_on_a_zero_gpu_space_no_gpu_lent_is_said_and_the_run_goes_on_on_the_cpu(zero_gpu_space, drawings, mode):
    url, api = zero_gpu_space
    api.mode = mode
    _, job = submit(url, drawings, 2)
    job.result(timeout=180)
    final = job.outputs()[-1]
    assert "done" in final[3] and "on the CPU" in final[3]
    said = {"quota": "ZeroGPU quota exceeded: Space app has reached its GPU limit",
            "no_gpu": "ZeroGPU client error: No GPU was available"}[mode]
    assert any(t.startswith(said) and "on the CPU instead" in t for t in toasts(job)), toasts(job)


@pytest.mark.slow
def test_on_a_zero_gpu_space_stop_ends_the_lent_run_and_gives_the_gpu_back(zero_gpu_space, drawings):
    import time

    url, api = zero_gpu_space
    api.mode = "lend"
    client, job = submit(url, drawings, 100)
    deadline = time.monotonic() + 120
    while len(job.outputs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    calls = len(api.calls)
    asked = time.monotonic()
    client.predict(api_name="/stop")
    job.result(timeout=60)
    assert time.monotonic() - asked < 10
    final = job.outputs()[-1]
    assert "stopped" in final[3] and final[0] and final[6]
    deadline = time.monotonic() + 20
    while "/release" not in api.calls[calls:] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "/release" in api.calls[calls:]  # the worker stopped and ZeroGPU took its GPU back
