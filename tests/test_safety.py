"""Safe artefacts and failure paths: the assets manifest, no unpickling, per-session downloads,
file access over HTTP, the per-run time limit and the fallback from a GPU out-of-memory error."""
import re
import shutil
from pathlib import Path

import httpx
import pytest
import torch

import demo.runtime.fallback
from demo.runtime.checkpoints import load_models
from demo.page.handlers import make_run
from demo.runtime.manifest import MANIFEST, main as manifest_main, verify_manifest, write_manifest
from demo.runtime.session import Session
from demo.runtime.shots import example_sets, glyph_from_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def session():
    s = Session()
    s.shots = [glyph_from_image(im, "example") for im in next(iter(example_sets().values()))][:3]
    yield s
    s.cleanup()


def test_the_shipped_assets_match_their_manifest():
    assert verify_manifest(ROOT / "assets") >= 10


def test_a_corrupt_or_missing_checkpoint_stops_the_app_with_one_clear_message(tmp_path, capsys):
    assets = tmp_path / "assets"
    shutil.copytree(ROOT / "assets", assets, ignore=shutil.ignore_patterns("*.png"))
    weights = assets / "glyphs-reptile" / "diffusion_pytorch_model.safetensors"
    original = weights.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{re.escape(str(weights))} is corrupt .*git checkout -- {re.escape(str(weights))}"):
        load_models(assets, torch.device("cpu"))
    from app import main
    with pytest.raises(SystemExit, match="Inner Loop cannot start: checkpoint file .*diffusion_pytorch_model.safetensors is corrupt"):
        main(["--assets", str(assets)])
    weights.write_bytes(original)
    (assets / "judge" / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"judge/model.safetensors is missing: restore it with `git checkout --"):
        verify_manifest(assets)


def test_manifest_round_trip_and_a_damaged_file_without_a_manifest(tiny_assets, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_assets, folder)
    assert verify_manifest(folder) == 0  # no manifest: nothing to check
    write_manifest(folder)
    manifest_main([str(folder)])
    assert "files match" in capsys.readouterr().out
    (folder / MANIFEST).unlink()
    (folder / "glyphs-joint" / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match=r"checkpoint .*glyphs-joint could not be loaded .*git checkout"):
        load_models(folder, torch.device("cpu"))


def test_nothing_is_ever_unpickled():
    risky = re.compile(r"torch\.load\(|import pickle|pickle\.load|allow_pickle=True|weights_only=False|joblib")
    sources = [p for d in ("meta", "demo", "tests") for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]
    hits = [f"{p.name}: {line.strip()}" for p in sources if p.name != "test_safety.py"
            for line in p.read_text().splitlines() if risky.search(line)]
    assert hits == []
    assert not [p for p in (ROOT / "assets").rglob("*") if p.suffix in (".pt", ".pth", ".bin", ".pkl", ".ckpt")]


def test_downloads_live_in_a_per_session_folder_inside_gradios_cache(tiny_models, session):
    from gradio.utils import get_upload_folder

    final = list(make_run(tiny_models)(None, 1, 0, samples=2, sampler_steps=2, session=session))[-1]
    gif, zip_path = Path(final[6]), Path(final[7])
    assert gif.parent == zip_path.parent and gif.parent.parent == session.tmpdir()
    assert session.tmpdir().parent == Path(get_upload_folder())  # served as is: no copy, no allowed_paths
    again = list(make_run(tiny_models)(None, 1, 0, samples=2, sampler_steps=2, session=session))[-1]
    assert not gif.exists() and Path(again[7]).exists()  # a new run replaces the last run's files
    other = Session()
    assert other.tmpdir() != session.tmpdir()
    other.cleanup()


def test_only_served_files_can_be_fetched(app_url):
    from app import launch_kwargs

    assert "allowed_paths" not in launch_kwargs()
    for path in ["/etc/passwd", str(ROOT / "app.py"), str(ROOT / "assets" / MANIFEST), "../../../etc/passwd",
                 "..%2F..%2F..%2Fetc%2Fpasswd"]:
        status = httpx.get(f"{app_url}/gradio_api/file={path}", timeout=10).status_code
        assert status in (403, 404), (path, status)


def test_a_run_stops_itself_at_the_time_limit(tiny_models, session):
    outs = list(make_run(tiny_models, max_seconds=0.3)(None, 100, 0, samples=2, sampler_steps=2, session=session))
    status = outs[-1][3]
    assert "stopped" in status and "time limit of 0.3 s" in status
    assert session.frames[-1].step < 100


def test_out_of_gpu_memory_restarts_the_run_on_the_cpu(tiny_models, session, monkeypatch):
    real, calls = demo.runtime.fallback.adapt_live, []

    def oom_after_one_frame(lanes, *args):  # what a CUDA OOM during step 1 looks like to the handler
        calls.append(lanes)
        frames = real(lanes, *args)
        yield next(frames)
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        yield from frames

    monkeypatch.setattr(demo.runtime.fallback, "adapt_live", oom_after_one_frame)
    with pytest.warns(UserWarning, match="GPU ran out of memory"):
        outs = list(make_run(tiny_models)(None, 3, 0, samples=2, sampler_steps=2, session=session))
    assert len(calls) == 2 and all(g.generator.params["context"].device.type == "cpu" for g in calls[1].values())
    assert [f.step for f in session.frames] == [0, 1, 2, 3]  # the restarted run only, from step 0
    assert "done" in outs[-1][3] and "on the CPU" in outs[-1][3]
