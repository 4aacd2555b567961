"""The Inner Loop studio, in three layers: `page` (the Gradio UI) -> `runtime` (the live run,
checkpoints, shots, files; no gradio) -> `meta`; `tools` (benchmarks, load tests, screenshots)
drive the runtime, or the whole app in a child process."""
