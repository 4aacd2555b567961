"""The page's side of the runtime's errors: a user's mistake arrives as ValueError and leaves as gr.Error."""
from __future__ import annotations

from contextlib import contextmanager

import gradio as gr


@contextmanager
def user_errors():
    """Show a ValueError raised inside (the runtime's message for a bad request) as a gr.Error."""
    try:
        yield
    except gr.Error:
        raise
    except ValueError as err:
        raise gr.Error(str(err)) from None
