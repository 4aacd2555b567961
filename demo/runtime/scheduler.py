"""Many visitors at once: concurrent runs advance together, a frame each per turn, in shared batches.

`Scheduler.frames(lanes, shots, settings, should_stop, score)` is what a run's handler iterates: `Waiting`
notices while the run waits for a place, then its `Frame`s, as `engine.adapt_live` yields them alone (with
`score`, each frame's `likeness` too: scored on the visitor's side, as the frame is handed over).

1. Admission: at most `max_active` runs hold state at once (memory stays bounded); the others wait in
   arrival order and are told their place and expected wait.
2. Turns: a worker takes the run that has waited longest for its next frame (a run's first frame
   before any later one, so a new visitor sees step 0 soon), adds other ready runs of the same key
   (checkpoints, shot count, preview size: `batch.RunState.key`), up to `batch` runs and an even share
   of the ready runs per idle worker, and makes the next frame of each in one `batch.advance`. Every
   run gets a frame per round: none starves.
3. Isolation: a run's frames go to its visitor only. Stop, a disconnect (its iterator closed, or
   frames left unread) and the time limit end that run alone: its visitor hears of it at once, and a
   frame it was in the middle of is dropped (the turn itself is cut short only when every run in it is
   over). A group that raises is retried one run at a time, so an error reaches only its own run.
"""
from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from meta.sampling import Interrupted

from .batch import RunState, advance
from .engine import Frame, Lane, Settings

UNREAD = 2  # frames a run may have waiting for its visitor before it is skipped for a turn
ABANDONED_S = 120.0  # a visitor who has not taken a frame for this long has left: the run ends
NOTICE_S = 5.0  # how often a waiting visitor hears again where they stand
POLL_S = 0.1  # how often a visitor's side looks at its Stop while it waits for a frame


@dataclass(frozen=True)
class Waiting:
    """A run waiting for a place: `position` 1 is next; `wait_s` the expected seconds until it starts
    (None until the scheduler has timed a turn)."""

    position: int
    wait_s: float | None
    active: int  # runs going on now


class _Run:
    def __init__(self, state: RunState, should_stop: Callable[[], bool]):
        self.state, self.should_stop = state, should_stop
        self.outbox: deque = deque()  # Frames, then None (the end) or an exception
        self.busy = self.closed = self.ended = False
        self.failure: Exception | None = None  # raised by its own should_stop
        self.arrived = self.served = time.monotonic()
        self.last_read = self.arrived

    def priority(self) -> tuple:
        return self.state.frames > 0, self.served

    def end(self, error: BaseException | None = None) -> None:
        if not self.ended:
            self.ended = True
            self.outbox.append(error)


def expected_waits(remaining: list[int], queued: list[int], slots: int, frame_s: float) -> list[float]:
    """Seconds until each queued run starts: active runs with `remaining` frames each get one frame per
    round, a round costs frame_s per active run, a place frees when a run ends (arrival order)."""
    active, queue, now, out = list(remaining), deque(queued), 0.0, []
    while queue:
        while queue and len(active) < max(slots, 1):
            out.append(now)
            active.append(queue.popleft())
        if queue:
            rounds = min(active)
            now += rounds * len(active) * frame_s
            active = [a - rounds for a in active if a > rounds]
    return out


class Scheduler:
    def __init__(self, workers: int = 1, batch: int = 8, max_active: int = 32):
        if workers < 1 or batch < 1 or max_active < 1:
            raise ValueError(f"workers, batch and max_active must be >= 1, got {workers}, {batch}, {max_active}")
        self.workers, self.batch, self.max_active = workers, batch, max_active
        self._cond = threading.Condition()
        self._waiting: deque[_Run] = deque()
        self._active: list[_Run] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._busy_workers = 0
        self.frame_s: float | None = None  # seconds per frame per worker (moving average)

    # ---- the visitor's side ----
    def frames(self, lanes: dict[str, Lane], shots, settings: Settings, should_stop: Callable[[], bool] = lambda: False,
               score: Callable[[np.ndarray], float] | None = None) -> Iterator[Frame | Waiting]:
        run = _Run(RunState(lanes, shots, settings), should_stop)  # bad input raises here, in the visitor's thread
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            self._waiting.append(run)
            self._admit()
            self._start_workers()
            self._cond.notify_all()
        try:
            told = None
            while True:
                with self._cond:
                    item = self._next_item(run, told)
                if isinstance(item, Waiting):
                    told = (item, time.monotonic())
                elif item is None:
                    return
                elif isinstance(item, BaseException):
                    raise item
                elif score is not None:  # the live chart's measure, as engine.adapt_live gives it
                    item.likeness = {n: score(s) for n, s in item.samples.items()}
                yield item
        finally:
            with self._cond:
                run.closed = True
                if run in self._waiting:
                    self._waiting.remove(run)
                    self._admit()
                self._cond.notify_all()

    def _next_item(self, run: _Run, told):
        while True:
            run.last_read = time.monotonic()  # the visitor is still there: it is asking
            if run.outbox:
                self._cond.notify_all()  # a worker may give this run its next turn now
                item = run.outbox.popleft()
                if isinstance(item, Frame) and item.step > 0 and self._stopped(run):  # made before Stop: not shown
                    run.outbox.clear()
                    run.ended = True
                    return run.failure
                return item
            if run in self._waiting:
                if self._stopped(run):  # Stop before its turn came
                    self._waiting.remove(run)
                    return run.failure
                moved = told is None or self._waiting.index(run) + 1 != told[0].position
                if moved or time.monotonic() - told[1] > NOTICE_S:
                    return self.waiting(run)
            elif run.ended:
                return None
            elif self._stopped(run):  # Stop (or the time limit) during a turn: the visitor is free at once
                run.ended = True
                return run.failure
            self._cond.wait(timeout=POLL_S)

    def waiting(self, run: _Run) -> Waiting:
        """Where a waiting run stands (call with the lock held)."""
        position = self._waiting.index(run) + 1
        wait = None
        if self.frame_s is not None:
            remaining = [r.state.settings.inner_steps + 1 - r.state.frames for r in self._active]
            queued = [r.state.settings.inner_steps + 1 for r in list(self._waiting)[:position]]
            wait = expected_waits(remaining, queued, self.max_active, self.frame_s / self.workers)[-1]
        return Waiting(position, wait, len(self._active))

    # ---- the workers' side ----
    def _start_workers(self) -> None:
        while len(self._threads) < self.workers:
            t = threading.Thread(target=self._work, name=f"inner-loop-scheduler-{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()

    def _admit(self) -> None:
        while self._waiting and len(self._active) < self.max_active:
            self._active.append(self._waiting.popleft())

    def _reap(self) -> None:
        """End the runs that are over: done, stopped, closed or abandoned (lock held, none busy)."""
        now = time.monotonic()
        for r in [r for r in self._active if not r.busy]:
            abandoned = r.outbox and now - r.last_read > ABANDONED_S
            if r.closed or abandoned or r.ended or r.state.done or self._stopped(r):
                r.end(r.failure)
                self._active.remove(r)
        self._admit()

    @staticmethod
    def _stopped(r: _Run) -> bool:
        try:
            return bool(r.should_stop())
        except Exception as err:  # noqa: BLE001 -- the visitor's own callback: its error ends its run only
            r.failure = err
            return True

    def _pick(self) -> list[_Run] | None:
        """The next group: the longest-waiting ready run and others of its key, up to `batch` runs and to
        an even share of the ready runs among the idle workers (so that no worker idles while one has them all)."""
        self._reap()
        ready = [r for r in self._active if not r.busy and len(r.outbox) < UNREAD]
        if not ready:
            return None
        head = min(ready, key=_Run.priority)
        key = head.state.key()
        idle = max(self.workers - self._busy_workers, 1)
        size = min(self.batch, math.ceil(len(ready) / idle))
        group = sorted((r for r in ready if r.state.key() == key), key=_Run.priority)[:size]
        for r in group:
            r.busy = True
        return group

    def _work(self) -> None:
        unets: dict[int, object] = {}  # this worker's own module copy of each generator
        while True:
            with self._cond:
                group = None
                while not self._closed and (group := self._pick()) is None:
                    self._cond.wait(timeout=1.0)
                if self._closed:
                    return
                self._busy_workers += 1
            start = time.perf_counter()
            results = self._advance(group, unets)
            per_frame = (time.perf_counter() - start) / len(group)
            with self._cond:
                self._busy_workers -= 1
                self.frame_s = per_frame if self.frame_s is None else 0.8 * self.frame_s + 0.2 * per_frame
                now = time.monotonic()
                for r, result in zip(group, results):
                    r.busy, r.served = False, now
                    if isinstance(result, Exception):
                        r.end(result)
                    elif result is None:  # the turn was cut short: every run in it was over
                        r.end(r.failure)
                    elif r.state.frames == 1 or not self._stopped(r):  # Stop mid-turn: the frame is dropped (but step 0's)
                        r.outbox.append(result)
                        if r.state.done:
                            r.end()
                self._reap()
                self._cond.notify_all()

    def _advance(self, group: list[_Run], unets: dict) -> list:
        for g in {id(lr.g): lr.g for r in group for lr in r.state.lanes.values()}.values():
            if id(g) not in unets:
                unets[id(g)] = copy.deepcopy(g.unet)

        def over():
            return all(r.closed or r.ended or self._stopped(r) for r in group)

        try:
            return advance([r.state for r in group], unets, over)
        except Interrupted:
            return [None] * len(group)
        except Exception as err:  # noqa: BLE001 -- find the run that raised: the others go on
            if len(group) == 1:
                return [err]
            return [self._advance([r], unets)[0] for r in group]

    def close(self) -> None:
        """Stop the workers (after their current turn); runs still going end."""
        with self._cond:
            self._closed = True
            for r in [*self._active, *self._waiting]:
                r.end()
            self._cond.notify_all()
        for t in self._threads:
            t.join()
