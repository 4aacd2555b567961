"""Run the studio (`app.py`) in a child process on 127.0.0.1, for the load and soak measurements.

A child process, not a thread, so its memory, threads, CPU time and temp files are its own: they are
read from /proc (Linux) and from the private GRADIO_TEMP_DIR / TMPDIR it is given.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    pid: int
    temp: Path  # holds the child's gradio cache and temp folder, nothing else

    def stats(self) -> dict:
        """Resident memory (MB), threads, CPU seconds and files under its temp folders."""
        status = dict(line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines())
        ticks = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        sizes = [size(p) for d in ("gradio", "tmp") for p in (self.temp / d).rglob("*")]
        sizes = [s for s in sizes if s is not None]
        return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "threads": int(status["Threads"]),
                "cpu_s": (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK"),
                "temp_files": len(sizes), "temp_mb": sum(sizes) / 2**20}


def size(path: Path) -> int | None:
    """A file's size; None for a folder, or a file the app deleted while we looked (a run's downloads are replaced)."""
    try:
        return path.stat().st_size if path.is_file() else None
    except FileNotFoundError:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, timeout: float = 60, check=lambda: None) -> None:
    """Poll `url` until it answers 200 (`check()` runs before every try and may raise)."""
    deadline = time.monotonic() + timeout
    while True:
        check()
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # its process group: the session it leads
    except ProcessLookupError:
        pass


@contextmanager
def serve(assets, concurrency: int = 0, threads: int = 1, env: dict | None = None, timeout: float = 120,
          app: Path = ROOT / "app.py"):
    """Start app.py (or a script that starts it, taking its arguments) on a free port, wait until its
    page answers, yield a Server; stop it after."""
    temp = Path(tempfile.mkdtemp(prefix="inner-loop-serve-"))
    (temp / "gradio").mkdir()
    (temp / "tmp").mkdir()
    port = free_port()
    child_env = {**os.environ, "GRADIO_TEMP_DIR": str(temp / "gradio"), "TMPDIR": str(temp / "tmp"),
                 "OMP_NUM_THREADS": str(threads), "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    cmd = [sys.executable, str(app), "--assets", str(assets), "--port", str(port),
           "--concurrency", str(concurrency), "--threads", str(threads)]
    log = open(temp / "server.log", "w+")
    # a session of its own: stopping it stops whatever it started too (e.g. ZeroGPU's worker processes)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    def exited():
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the app exited ({proc.returncode}) before answering:\n{log.read()[-3000:]}")

    try:
        wait_for_page(url, timeout, exited)
        yield Server(url, proc.pid, temp)
    finally:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(10)
        _signal_group(proc, signal.SIGKILL)  # any child left behind
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
