"""The page's side of ZeroGPU: the run wrapped in `spaces.GPU`, and what a visitor sees when no GPU is lent.

Off ZeroGPU `spaces.GPU` returns the function unchanged and the studio never calls it. On ZeroGPU it
runs in a worker process that holds a GPU for the seconds `gpu_duration` asks for; its arguments and
frames are pickled across, so it takes plain data and yields frames of CPU data, and the visitor's
Session stays in this process (Stop closes the stream, which stops the worker after its current step).
"""
from __future__ import annotations

import gradio as gr
import spaces

from demo.runtime.checkpoints import Models
from demo.runtime.fallback import CPU, frames_with_fallback
from demo.runtime.zerogpu import borrowed_frames, gpu_duration, run_seconds, with_start_params

__all__ = ["gpu_duration", "gpu_runner", "frames_on_borrowed_gpu"]


def gpu_runner(models: Models):
    """run_on_gpu(checkpoint, inner_lr, baseline, shots, settings, seconds) -> (device, frame)s, as ZeroGPU lends it."""
    def duration(checkpoint, inner_lr, baseline, shots, settings, seconds) -> float:  # spaces calls it with the run's arguments
        return gpu_duration(settings.inner_steps, settings.samples, settings.sampler_steps, baseline)

    @spaces.GPU(duration=duration)
    def run_on_gpu(checkpoint, inner_lr, baseline, shots, settings, seconds):
        yield from borrowed_frames(models, checkpoint, inner_lr, baseline, shots, settings, seconds)

    return run_on_gpu


def refusal(err: Exception) -> str:
    """ZeroGPU's refusals (quota used up, no GPU free, a request too long) arrive as gr.Error with a title."""
    if isinstance(err, gr.Error):
        return f"{err.title}: {str(err.message).rstrip('. ')}."
    return f"The GPU could not run it ({type(err).__name__}: {err})."


def frames_on_borrowed_gpu(run_on_gpu, lanes, checkpoint: str, inner_lr, shots, settings, limit: float,
                           should_stop, restart, score=None):
    """The run's frames from a borrowed GPU; where none is lent, or it fails, the visitor is told why and
    the same run (same shots, seed and noise) starts over on the CPU (`restart(device)` before each start)."""
    baseline = "baseline" in lanes
    seconds = run_seconds(limit, settings.inner_steps, settings.samples, settings.sampler_steps, baseline)
    source = run_on_gpu(checkpoint, inner_lr, baseline, shots, settings, seconds)
    started = False
    try:
        for device, frame in source:
            if not started:
                restart(f"{device} (ZeroGPU)")
                started = True
            frame = with_start_params(frame, lanes)
            if score is not None and not frame.likeness:  # the live chart's measure, here: the judge stays on this side
                frame.likeness.update({n: score(s) for n, s in frame.samples.items()})
            yield frame
            if should_stop():
                return
        return
    except Exception as err:  # noqa: BLE001 -- whatever went wrong on the GPU side, the run goes on here
        gr.Warning(f"{refusal(err)} {'Starting the run over' if started else 'Running it'} on the CPU instead (slower).")
    finally:
        source.close()  # on Stop: ZeroGPU stops the worker after its current step
    restart(CPU)
    yield from frames_with_fallback(lanes, shots, settings, should_stop, restart, gr.Warning, score)
