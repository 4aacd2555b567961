"""Everything one visitor owns, held in a `gr.State` (never in module globals).

Gradio hands the same Session object to every handler of a browser session, so the queue-free
Stop handler can raise `stop` while the run's generator is still going (a cooperative stop).
Files (GIF, zip) go to a per-session folder inside Gradio's own cache folder, so Gradio serves them
from there (no copy per run, no `allowed_paths`); each run replaces the previous run's files, and
`cleanup` removes the folder when the state expires or the visitor leaves.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from .domains import GLYPHS
from .shots import add_shots, load_uploads

STUB_AGE_S = float(os.environ.get("INNER_LOOP_STUB_AGE", "600"))  # see sweep_upload_stubs
MAX_FRAMES = 101  # step 0 + at most 100 inner steps: uint8 grids, ~16 KB a frame


def served_folder() -> Path:
    """Gradio's cache folder, whose files it serves without copying: $GRADIO_TEMP_DIR, else <temp>/gradio
    (Gradio's own rule, `gradio.utils.get_upload_folder`; tests/test_safety.py checks they agree)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or (Path(tempfile.gettempdir()) / "gradio").resolve())


class Session:
    def __init__(self):
        self.domain = GLYPHS  # "glyphs" or "icons" (demo/runtime/domains.py): what the shots are and how uploads are read
        self.shots: list = []  # float32 arrays in [-1, 1], what the model sees: (32, 32) glyphs or (3, 32, 32) icons
        self.source: str | None = None  # the built-in example set the shots are (unchanged); None: the visitor's own
        self.selected: int | None = None  # gallery index picked for removal
        self.frames: list = []  # engine.Frame for each streamed step (adapted params dropped)
        self.params: dict = {}  # lane -> adapted parameters of the last run
        self.names: dict = {}  # lane -> its short name (demo/runtime/lanes.py) in the last run
        self.stop = False  # raised by the Stop button, read by the run each step
        self.running = False
        self.files_ready = False  # the last run's filmstrip and adapted generator are written
        self.run_id = 0  # bumped by each run and by Reset, so a stale run leaves the outputs alone
        self._tmp: str | None = None

    def use_set(self, name: str, shots: list) -> None:
        """A built-in example set replaces the examples."""
        self.shots, self.source, self.selected = list(shots), name, None

    def bring(self, shots: list) -> str | None:
        """The visitor's own examples (uploads, drawings): while the examples shown are a built-in set
        they start a set of the visitor's own (the built-in one is put aside), else they join it.
        Returns the name of the set put aside, if one was. All or none: too many raises ValueError."""
        aside = self.source
        self.shots = add_shots([] if aside else self.shots, shots)
        self.source, self.selected = None, None
        return aside

    def add_uploads(self, paths, domain: str | None = None) -> str | None:
        """Read uploaded files as shots, all or none: the one place uploads are decoded.

        Without `domain` (the upload box) they are read as the session's world and brought as the
        visitor's own (`bring`). With one (a run over the API reads its uploads the way the chosen
        checkpoint draws) they become the examples, and the session moves to that world."""
        shots = load_uploads(paths, domain or self.domain)
        if domain is None:
            return self.bring(shots)
        self.shots, self.domain, self.source, self.selected = shots, domain, None, None
        return None

    def tmpdir(self) -> Path:
        if self._tmp is None or not Path(self._tmp).is_dir():
            cache = served_folder()
            cache.mkdir(parents=True, exist_ok=True)
            self._tmp = tempfile.mkdtemp(prefix="inner-loop-", dir=cache)
        return Path(self._tmp)

    def run_dir(self) -> Path:
        """A fresh folder for this run's downloads (a new URL each run); the previous run's is removed."""
        for old in self.tmpdir().glob("run-*"):
            shutil.rmtree(old, ignore_errors=True)
        folder = self.tmpdir() / f"run-{self.run_id}"
        folder.mkdir(exist_ok=True)
        return folder

    def keep(self, frame) -> None:
        """Remember a streamed frame for scrubbing; the last frame's params become the session's."""
        self.params = frame.params
        frame.params = {}
        if len(self.frames) >= MAX_FRAMES:
            del self.frames[1]  # keep step 0 for the before/after
        self.frames.append(frame)

    def clear_run(self) -> None:
        self.frames, self.params, self.names, self.stop, self.files_ready = [], {}, {}, False, False

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


def sweep_upload_stubs(min_age: float = STUB_AGE_S) -> int:
    """Remove the empty `tmpXXXXXXXX` files that Gradio 6.31's upload route leaves in its cache, one
    per uploaded file (found by `python -m demo.tools.soak`); only those older than `min_age` seconds, so
    no upload in flight is touched. Returns how many were removed."""
    removed, now, folder = 0, time.time(), served_folder()
    if not folder.is_dir():
        return 0
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("tmp") and e.is_file(follow_symlinks=False):
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:  # gone meanwhile: Gradio moved it, or another run's sweep removed it
                    continue
                if st.st_size == 0 and now - st.st_mtime >= min_age:
                    Path(e.path).unlink(missing_ok=True)
                    removed += 1
    return removed
