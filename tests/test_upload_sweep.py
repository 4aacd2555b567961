"""The sweep of Gradio's empty upload stubs runs at the start of every run, concurrently with other runs
(and with Gradio itself): a stub that vanishes while it looks must not fail the visitor's run."""
import os
import time

from demo.runtime import session as session_module


class Vanished:
    """A directory entry whose file is gone by the time it is stat'ed (another run's sweep removed it)."""
    name, path = "tmpgone1234", "/nonexistent/tmpgone1234"

    def is_file(self, follow_symlinks=True):
        return True

    def stat(self, follow_symlinks=True):
        raise FileNotFoundError(self.path)


def test_a_stub_removed_meanwhile_is_skipped_and_old_empty_stubs_are_removed(tmp_path, monkeypatch):
    old, fresh, kept = tmp_path / "tmpold00001", tmp_path / "tmpnew00001", tmp_path / "tmpfull0001"
    old.touch()
    fresh.touch()
    kept.write_text("an upload")
    os.utime(old, (time.time() - 3600,) * 2)
    os.utime(kept, (time.time() - 3600,) * 2)
    monkeypatch.setattr(session_module, "served_folder", lambda: tmp_path)
    real = os.scandir

    class Entries:
        def __enter__(self):
            self.inner = real(tmp_path)
            return [Vanished(), *self.inner]

        def __exit__(self, *exc):
            self.inner.close()

    monkeypatch.setattr(session_module.os, "scandir", lambda folder: Entries())
    assert session_module.sweep_upload_stubs(min_age=600) == 1
    assert not old.exists() and fresh.exists() and kept.exists()
