"""`demo.handlers`: the run's handlers, which live in demo/page/handlers.py; this short path is kept for
`gpu_duration` (seconds of GPU a run asks ZeroGPU for), which Space settings and scripts look up."""
from demo.page.handlers import gpu_duration

__all__ = ["gpu_duration"]
