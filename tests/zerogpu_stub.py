"""A ZeroGPU Space on this CPU machine, for tests: the real `spaces` package in ZeroGPU mode, talking to
a stand-in for the Space's device API (`DeviceAPI`), which lends a "GPU", refuses one, or reports the
visitor's quota used up, as the real one answers (spaces/zero/api.py and client.py).

Run as a script it starts the studio (`python tests/zerogpu_stub.py --assets ... --port ...`, with
SPACES_ZERO_GPU=true and SPACES_ZERO_DEVICE_API_URL set) after the three changes `spaces` needs on a
CPU build of torch: it reads torch.version.cuda, keeps torch._C._cuda_init (absent here), and
starts CUDA (and moves tensors there) in the worker it forks for each lent GPU -- here that worker
computes on the CPU, and may take longer than the GPU seconds the run asks for.
"""
from __future__ import annotations

import json
import runpy
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]


class DeviceAPI:
    """POST /startup-report, /schedule, /allow, /release on 127.0.0.1; `mode` says how /schedule answers:
    "lend" (a GPU), "no_gpu" (503: none free) or "quota" (429: the visitor's quota is used up)."""

    def __init__(self, mode: str = "lend"):
        self.mode, self.schedules, self.calls = mode, [], []  # the query of every /schedule call; every path called
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                url = urlparse(self.path)
                api.calls.append(url.path)
                status, body = 200, {}
                if url.path == "/schedule":
                    api.schedules.append({k: v[0] for k, v in parse_qs(url.query).items()})
                    if api.mode == "lend":
                        body = {"idle": False, "nvidiaIndex": 0, "nvidiaUUID": "GPU-stub", "allowToken": "stub-token"}
                    elif api.mode == "quota":
                        status, body = 429, {"left": 3, "wait": "PT13H20M"}
                    else:
                        status = 503
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _no_cuda():
    raise RuntimeError("this machine has no CUDA")


def _not_in_bad_fork():
    return False


def main() -> None:
    import torch

    torch.version.cuda = "12.8"  # spaces/zero/torch/static.py reads it
    torch._C._cuda_init = _no_cuda  # spaces/zero/torch/patching.py keeps it (and the main process must never call it)
    torch.cuda._is_in_bad_fork = _not_in_bad_fork  # the CPU build's is a lambda, which spaces cannot send to its check
    import spaces.zero.torch as zero_torch

    zero_torch.init = lambda nvidia_uuid: None  # the worker's "GPU": no CUDA to start; it computes on the CPU
    zero_torch.move = lambda callback=None: None  # ... and nothing to move there
    sys.path.insert(0, str(ROOT))
    import demo.page.zerogpu

    # the seconds a run asks for are a GPU's; here the worker computes on a (shared) CPU: let it run to the page's limit
    demo.page.zerogpu.run_seconds = lambda limit, *run: limit
    sys.argv = [str(ROOT / "app.py"), *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
