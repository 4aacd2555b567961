"""Everything one visitor owns, held in a `gr.State` (never in module globals).

Gradio hands the same Session object to every handler of a browser session, so the queue-free
Stop handler can raise `stop` while the run's generator is still going (a cooperative stop).
Files (GIF, zip) go to a per-session temp folder, removed by `cleanup` when the state expires.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

MAX_FRAMES = 101  # step 0 + at most 100 inner steps: uint8 grids, ~16 KB a frame


class Session:
    def __init__(self):
        self.shots: list = []  # (32, 32) float32 arrays in [-1, 1]: what the model sees
        self.selected: int | None = None  # gallery index picked for removal
        self.frames: list = []  # engine.Frame for each streamed step (adapted params dropped)
        self.params: dict = {}  # lane -> adapted parameters of the last run
        self.run_info: dict = {}  # lane -> (checkpoint name, inner config) of the last run
        self.stop = False  # raised by the Stop button, read by the run each step
        self.running = False
        self.run_id = 0  # bumped by each run and by Reset, so a stale run leaves the outputs alone
        self._tmp: str | None = None

    def tmpdir(self) -> Path:
        if self._tmp is None or not Path(self._tmp).is_dir():
            self._tmp = tempfile.mkdtemp(prefix="inner-loop-")
        return Path(self._tmp)

    def keep(self, frame) -> None:
        """Remember a streamed frame for scrubbing; the last frame's params become the session's."""
        self.params = frame.params
        frame.params = {}
        if len(self.frames) >= MAX_FRAMES:
            del self.frames[1]  # keep step 0 for the before/after
        self.frames.append(frame)

    def clear_run(self) -> None:
        self.frames, self.params, self.run_info, self.stop = [], {}, {}, False

    def cleanup(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __deepcopy__(self, memo):  # gr.State deep-copies its default for each new visitor
        return Session()


def delete_session(session: "Session | None") -> None:
    """gr.State delete_callback: the visitor left (or the state expired)."""
    if isinstance(session, Session):
        session.cleanup()
