"""CUDA graphs: a call of fixed shapes captured once and replayed, for the live loop on a GPU.

At 32 x 32 the live loop is launch-bound on a GPU: an inner step and a preview issue ~3,700 small
kernels, and the GPU computes for ~10 % of the time (assets/bench-h100-profile.txt). A CUDA graph
records the kernels of one call and replays them all with one launch. `Captured(fn, args)` copies
`args` into static buffers, warms `fn` up, captures one call of it, and then each call copies the
new arguments into the buffers, replays, and returns the static outputs (overwritten by the next
call: clone what you keep). What is captured is `fn` itself -- the one inner step of `meta.inner`,
the sampler of `meta.sampling` -- not a second implementation; `capture` returns None where capture
is impossible (no CUDA, or an operation that cannot be captured), and the caller runs `fn` eagerly.

`Backend` is how a graph is made and replayed: `CudaGraphs` on a GPU; `Rerun` replays by calling
`fn` again on the same buffers, which lets the plumbing (static buffers, in-place state, aliasing of
outputs) be tested on a CPU.
"""
from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

WARMUP = 3  # eager calls before capture, on a side stream (lazy cuDNN / cuBLAS / autograd set-up stays out of the graph)


class CudaGraphs:
    """Capture with torch.cuda.graph after warm-up calls on a side stream (PyTorch's recipe)."""

    def capture(self, fn: Callable, warmup: int = WARMUP):
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(warmup):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            out = fn()
        return graph, out

    def replay(self, graph, fn: Callable, out) -> None:
        graph.replay()


class Rerun:
    """A stand-in for a GPU's graphs: "capture" calls `fn`, "replay" calls it again and writes its
    results into the captured outputs, as a replayed graph writes into its fixed output memory."""

    def capture(self, fn: Callable, warmup: int = WARMUP):
        for _ in range(warmup):
            fn()
        return None, fn()

    def replay(self, graph, fn: Callable, out) -> None:
        outs = tree_flatten(out)[0]
        with torch.inference_mode(any(x.is_inference() for x in outs)):  # outputs made under inference mode
            copy_into(outs, tree_flatten(fn())[0])


def copy_into(dsts: list, srcs: list) -> None:
    """dst.copy_(src) for each pair of tensors that are not already the same memory; dst.fill_(x) for a number."""
    pairs = [(d, s) for d, s in zip(dsts, srcs, strict=True) if not (torch.is_tensor(s) and s.data_ptr() == d.data_ptr())]
    numbers = [(d, s) for d, s in pairs if not torch.is_tensor(s)]
    tensors = [(d, s) for d, s in pairs if torch.is_tensor(s)]
    for d, s in numbers:
        d.fill_(s)
    if tensors:
        torch._foreach_copy_([d for d, _ in tensors], [s for _, s in tensors])


class Captured:
    """`fn(*args)` captured at the shapes of `args` (nested dicts / tuples of tensors and numbers;
    numbers become 0-dim tensors). Calling it with new arguments of those shapes replays the graph."""

    def __init__(self, fn: Callable, args: tuple, backend=None, warmup: int = WARMUP):
        self.backend = backend or CudaGraphs()
        leaves, self.spec = tree_flatten(args)
        device = next(x.device for x in leaves if torch.is_tensor(x))
        self.leaves = [x.detach().clone() if torch.is_tensor(x) else torch.tensor(float(x), device=device) for x in leaves]
        self.static = tree_unflatten(self.leaves, self.spec)
        self.fn = lambda: fn(*self.static)
        saved = [x.clone() for x in self.leaves]  # warm-up calls may change state that `fn` updates in place
        self.graph, self.out = self.backend.capture(self.fn, warmup)
        copy_into(self.leaves, saved)

    def __call__(self, *args):
        leaves, spec = tree_flatten(args)
        if spec != self.spec:
            raise ValueError(f"captured for arguments shaped {self.spec}, called with {spec}")
        copy_into(self.leaves, leaves)
        self.backend.replay(self.graph, self.fn, self.out)
        return self.out


def capture(fn: Callable, args: tuple, backend=None) -> Captured | None:
    """`Captured(fn, args)`, or None (with a warning saying why) where it cannot be made: then run `fn`."""
    if backend is None:
        on_gpu = [x.is_cuda for x in tree_flatten(args)[0] if torch.is_tensor(x)]
        if not (on_gpu and all(on_gpu)):
            return None
    try:
        return Captured(fn, args, backend)
    except Exception as err:  # noqa: BLE001 -- any failure to capture: the eager path computes the same
        warnings.warn(f"CUDA graph capture failed, running eagerly: {type(err).__name__}: {err}", RuntimeWarning, stacklevel=2)
        return None


def in_place(step: Callable, n_state: int) -> Callable:
    """step(*state, *rest) -> (*new_state, out) as a function that writes new_state into state (the
    graph's own buffers, once captured) and returns out: a loop's state then stays in the graph."""
    def run(*args):
        *new_state, out = step(*args)
        copy_into(tree_flatten(args[:n_state])[0], tree_flatten(tuple(new_state))[0])
        return out
    return run


def captured_step(step: Callable, state: tuple, rest: tuple, backend=None) -> Callable | None:
    """A loop step `step(*state, *rest) -> (*new_state, out)` as a captured graph with the same
    signature and results, or None. The state it returns is the graph's buffers, updated in place by
    every call (pass it back as is: nothing is copied); clone what must outlive the next call."""
    captured = capture(in_place(step, len(state)), (*state, *rest), backend)
    if captured is None:
        return None

    def call(*args):
        out = captured(*args)
        return (*captured.static[: len(state)], out)
    return call
