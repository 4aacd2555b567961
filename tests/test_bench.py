"""meta.bench writes the figures it promises (numbers here are not judged: timing is not a test)."""
from dataclasses import asdict

from meta import bench
from meta.inner import InnerConfig
from meta.checkpoint import save_checkpoint
from meta.model import GeneratorConfig, build_unet, init_params

SMALL = GeneratorConfig(block_out_channels=(8, 16), norm_num_groups=4, ctx_channels=2, ctx_size=8)


def test_bench_live_and_throughput_report_their_keys(tmp_path):
    unet = build_unet(SMALL)
    inner = InnerConfig(adapt="context", inner_steps=2, inner_lr=0.1, shots=5)
    ckpt = save_checkpoint(tmp_path / "ck", unet, init_params(unet, SMALL), SMALL, {"algo": "fomaml", "inner": asdict(inner), "iterations": 0})
    import torch

    live = bench.live(ckpt, torch.device("cpu"), repeats=2)
    for key in ("inner_step_ms", "preview_ms", "step_plus_preview_ms", "first_frame_s"):
        assert live[key] > 0
    for algo, mode in (("reptile", "vmap"), ("fomaml", "sequential"), ("maml", "batched"), ("fomaml", "per_task")):
        row = bench.throughput_one(ckpt, algo, mode, "cpu", meta_batch_size=2, iters=1)
        assert row["tasks_per_s"] > 0 and row["peak_mem_mb"] > 0
    md = bench.markdown({"environment": {"cpu": "x", "threads": 1, "torch": torch.__version__}, "live": {"cpu": live}})
    assert "step + preview" in md and str(live["inner_step_ms"]) in md


def test_bench_records_what_higher_does_on_this_unet(tmp_path):
    """Where higher is not installed the row says so; where it is, it either runs (a throughput) or
    fails with its error recorded -- never a silent pass."""
    import importlib.util

    unet = build_unet(SMALL)
    ckpt = save_checkpoint(tmp_path / "ck", unet, init_params(unet, SMALL), SMALL, {"algo": "joint", "iterations": 0})
    row = bench.higher_baseline(ckpt, inner_steps=1)
    if importlib.util.find_spec("higher") is None:
        assert row["status"].startswith("not installed") and "tasks_per_s" not in row
    else:
        assert row["status"] in ("ok", "fails"), row
        assert ("tasks_per_s" in row) == (row["status"] == "ok") and ("error" in row) == (row["status"] == "fails")
        assert row.get("tasks_per_s", 1) > 0
    assert "higher" in bench.markdown({"environment": {"cpu": "x", "threads": 1, "torch": "t"}, "higher": row})


def test_bench_saves_each_part_as_it_goes_and_records_a_configuration_that_times_out(tmp_path):
    """A run cut short (a lent GPU's time limit) keeps what it measured: the JSON is written after
    every part; a meta-training configuration past --mode-timeout is recorded as timed out."""
    import json

    unet = build_unet(SMALL)
    inner = InnerConfig(adapt="context", inner_steps=2, inner_lr=0.1, shots=5)
    ckpt = save_checkpoint(tmp_path / "ck", unet, init_params(unet, SMALL), SMALL, {"algo": "fomaml", "inner": asdict(inner), "iterations": 0})
    rows = []
    out = bench.throughput(ckpt, "cpu", 2, 1, algos=("fomaml",), on_row=lambda r: rows.append(dict(r)), mode_timeout=0.01)
    assert list(out) == ["fomaml"] and rows == [out]
    assert all(out["fomaml"][m] == {"error": "timed out after 0.01 s"} for m in ("vmap", "sequential", "batched", "per_task"))
    assert out["fomaml"]["vmap_tasks_per_s"] is None
    report = tmp_path / "b.json"
    bench.main(["--checkpoint", str(ckpt), "--json", str(report), "--skip", "higher", "steps_to_template",
                "--algos", "fomaml", "--mode-timeout", "0.01", "--repeats", "1"])
    saved = json.loads(report.read_text())
    assert saved["live"]["cpu"]["step_plus_preview_ms"] > 0 and list(saved["meta_training"]) == ["fomaml"]


def test_bench_on_cuda_without_cuda_says_so_in_one_line():
    import subprocess
    import sys

    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = subprocess.run([sys.executable, "-m", "meta.bench", "--device", "cuda"], capture_output=True, text=True,
                         cwd=bench.ROOT, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and "no CUDA device" in out.stderr
