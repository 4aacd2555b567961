"""A classroom against one app process: concurrent sessions, a short soak, Stop and disconnects.

Shortened versions of `python -m demo.tools.load` (16 sessions) and `python -m demo.tools.soak --runs 200`,
against the tiny checkpoints, in one app child process (demo/tools/server.py) shared by this module.
"""
import subprocess
import sys
import time

import pytest
from gradio_client import Client, handle_file

from demo.tools import load, soak
from demo.tools.server import serve

pytestmark = pytest.mark.slow
SETTINGS = {"inner_steps": 2, "samples": 4, "sampler_steps": 2}


@pytest.fixture(scope="module")
def server(tiny_assets):
    # 2 runs at once, so sessions really do overlap; stub age 0: the soak's runs are sequential
    with serve(tiny_assets, concurrency=2, env={"INNER_LOOP_STUB_AGE": "0"}) as s:
        yield s


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return load.session_inputs(1, tmp_path_factory.mktemp("shots"))[0]["paths"]


def test_concurrent_sessions_match_their_runs_alone_and_see_their_queue_position(server):
    r = load.measure(server.url, sessions=5, settings=SETTINGS)
    assert r["errors"] == []
    assert r["identical"] == 5 and r["mismatched_seeds"] == []
    assert r["saw_position"] >= 1 and r["max_position"] >= 1  # 5 sessions, 2 workers: some waited, and were told
    assert 0 < r["ttff_p50_s"] <= r["ttff_p95_s"] and 0 < r["step_p50_s"] <= r["step_p95_s"]


def test_frames_are_compared_by_content(server, shots):
    record = load.run_session(server.url, {"paths": shots, "seed": 0}, SETTINGS)
    digests = [d for pair in record["digests"] for d in pair]
    assert len(record["digests"]) == SETTINGS["inner_steps"] + 2  # step 0..2, then the final outputs
    assert all(len(d) == 64 for d in digests)  # every grid was fetched and hashed, none missing


def test_short_soak_keeps_memory_temp_files_and_threads_flat(server):
    r = soak.soak(server, runs=20, warmup=5, settings={"inner_steps": 1, "samples": 2, "sampler_steps": 2}, log=lambda _: None)
    assert r["rss_growth_mb"] <= 50, r
    assert r["temp_file_growth"] <= 0 and r["thread_growth"] <= 0, r


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_stop_frees_the_worker_within_a_second(server, shots):
    client = Client(server.url, download_files=False, verbose=False)
    job = client.submit(images=[handle_file(p) for p in shots], inner_steps=100, seed=0, samples=8, sampler_steps=4,
                        api_name="/adapt")
    wait_for(lambda: len(job.outputs()) >= 2)
    asked = time.monotonic()
    client.predict(api_name="/stop")
    job.result(timeout=30)
    took = time.monotonic() - asked
    assert "stopped" in job.outputs()[-1][3]
    assert took < 1.0, f"the worker was busy for {took:.2f} s after Stop"


CLIENT = """
import sys
from gradio_client import Client, handle_file
c = Client(sys.argv[1], download_files=False, verbose=False)
job = c.submit(images=[handle_file(p) for p in sys.argv[2:]], inner_steps=100, seed=0, samples=8, sampler_steps=4,
               api_name="/adapt")
for _ in job:
    print("frame", flush=True)
"""


def test_a_client_that_disconnects_mid_run_stops_its_computation(server, shots):
    idle = server.stats()["cpu_s"]
    time.sleep(1.0)
    idle = server.stats()["cpu_s"] - idle  # the app's own background CPU per second
    child = subprocess.Popen([sys.executable, "-c", CLIENT, server.url, *shots], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):  # it is computing: frames arrive
            assert child.stdout.readline().startswith("frame")
    finally:
        child.kill()  # the visitor closes the tab mid-run
        child.wait()
    time.sleep(1.5)  # at most the step in progress, then the queue notices the closed stream
    before = server.stats()["cpu_s"]
    time.sleep(2.0)
    busy = server.stats()["cpu_s"] - before
    assert busy < 0.5 + 2 * idle, f"the app used {busy:.2f} CPU s in 2 s after its client left (orphan compute)"
    r = load.run_session(server.url, {"paths": shots, "seed": 1}, SETTINGS)  # and it serves the next visitor
    assert r["error"] is None
