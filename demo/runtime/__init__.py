"""The studio without its UI: the live run, checkpoints, shots, sessions and files. Never imports
gradio: a user's mistake raises ValueError, and the page shows it as a gr.Error."""
