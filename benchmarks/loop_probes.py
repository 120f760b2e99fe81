"""What held the event loop, measured from inside the benchmark process.

* :class:`LagTicker`: how late a 5 ms sleep wakes up (the loop's responsiveness), with each
  sample's time window, so that lag can be split into garbage collection and the rest;
* :class:`GCPauses`: every garbage collection's start and end (``gc.callbacks``);
* :class:`CallbackTimes`: every loop callback's run time, by what it runs (a task's
  coroutine, or the callback's qualified name): where the loop time goes.

A stall "not caused by a GC pause" is a ticker sample's lag minus the GC time inside its
window: code (ours, botocore's, aiohttp's) that ran without yielding, or the operating
system running other processes instead of this one (on two cores, the emulator's server and
proxy compete with the hub for the CPU). The ticker also records the loop thread's own CPU
time per window (``time.thread_time``): a window whose lag is far above the CPU the loop
used in it was spent waiting for a core, not running code.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

__all__ = ["CallbackTimes", "GCPauses", "LagTicker", "StallSampler"]

TICK = 0.005


class GCPauses:
    """Records how long each of Python's garbage collections held the process (and so the
    loop): the ticker's worst samples are often a full (generation 2) collection."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float, int]] = []  # (start, end, generation)
        self._began = 0.0
        self._phase_began = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.intervals.append((self._began, time.perf_counter(), info["generation"]))

    def start(self) -> None:
        self.intervals = []
        self._phase_began = time.perf_counter()
        gc.callbacks.append(self._callback)

    def stop(self) -> dict[str, float]:
        gc.callbacks.remove(self._callback)
        longest = max(self.intervals, key=lambda i: i[1] - i[0], default=None)
        return {
            "max_ms": round((longest[1] - longest[0]) * 1000, 1) if longest else 0.0,
            "full_collections": sum(1 for *_, generation in self.intervals if generation == 2),
            "longest_at_s": round(longest[0] - self._phase_began, 2) if longest else 0.0,
        }

    def inside(self, start: float, end: float) -> float:
        """Seconds of garbage collection between ``start`` and ``end``."""
        return sum(
            max(0.0, min(end, stop) - max(start, began)) for began, stop, _ in self.intervals
        )


class LagTicker:
    """Measures how late a 5 ms sleep wakes up: the event loop's responsiveness."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (window start, window end)
        self.cpu: list[float] = []  # the loop thread's CPU seconds in each window
        self._task: asyncio.Task[None] | None = None
        self._began = 0.0

    async def _run(self) -> None:
        while True:
            before, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(TICK)
            self.samples.append((before, time.perf_counter()))
            self.cpu.append(time.thread_time() - cpu)

    def start(self) -> None:
        self.samples = []
        self.cpu = []
        self._began = time.perf_counter()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self, pauses: GCPauses | None = None) -> dict[str, float]:
        """Max and p99 lag; with ``pauses``, also the largest lag with GC time taken out."""
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        lags = [(end - start - TICK, start) for start, end in self.samples] or [(0.0, 0.0)]
        worst, worst_at = max(lags)
        ordered = sorted(lag for lag, _ in lags)
        result = {
            "max_ms": round(worst * 1000, 1),
            "max_at_s": round(worst_at - self._began, 2),
            "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1),
        }
        if pauses is not None:
            without = [
                (end - start - TICK - pauses.inside(start, end), start)
                for start, end in self.samples
            ] or [(0.0, 0.0)]
            lag, at = max(without)
            result["max_without_gc_ms"] = round(max(0.0, lag) * 1000, 1)
            result["max_without_gc_at_s"] = round(at - self._began, 2)
            index = [start for start, _ in self.samples].index(at) if self.samples else 0
            result["max_without_gc_cpu_ms"] = round(
                (self.cpu[index] if self.cpu else 0.0) * 1000, 1
            )
            # The loop's own work between two ticks: CPU it used, GC taken out.
            busy = [
                cpu - pauses.inside(start, end)
                for (start, end), cpu in zip(self.samples, self.cpu, strict=False)
            ] or [0.0]
            result["max_busy_without_gc_ms"] = round(max(0.0, max(busy)) * 1000, 1)
        return result


def _describe(callback: Any) -> str:
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):  # a task's step or wakeup: name its coroutine
        coro = owner.get_coro()
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        name = getattr(code, "co_qualname", None) or getattr(coro, "__qualname__", "?")
        return f"task {name}"
    return str(getattr(callback, "__qualname__", None) or type(callback).__name__)


class CallbackTimes:
    """Times every event-loop callback (``asyncio.Handle._run``), grouped by what it runs."""

    def __init__(self) -> None:
        self.total: defaultdict[str, float] = defaultdict(float)
        self.longest: defaultdict[str, float] = defaultdict(float)
        self.count: defaultdict[str, int] = defaultdict(int)
        self._original: Any = None

    def start(self) -> None:
        self.total.clear()
        self.longest.clear()
        self.count.clear()
        original = self._original = asyncio.events.Handle._run
        times = self

        def timed(handle: asyncio.Handle) -> None:
            began = time.perf_counter()
            try:
                original(handle)
            finally:
                spent = time.perf_counter() - began
                name = _describe(handle._callback)  # type: ignore[attr-defined]
                times.total[name] += spent
                times.count[name] += 1
                times.longest[name] = max(times.longest[name], spent)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    def stop(self, top: int = 6) -> list[dict[str, Any]]:
        asyncio.events.Handle._run = self._original  # type: ignore[method-assign]
        ranked = sorted(self.total, key=self.total.__getitem__, reverse=True)[:top]
        return [
            {
                "callback": name,
                "calls": self.count[name],
                "total_ms": round(self.total[name] * 1000, 1),
                "longest_ms": round(self.longest[name] * 1000, 1),
            }
            for name in ranked
        ]


class StallSampler:
    """While the loop is stalled (no tick for ``after`` seconds), a thread samples the loop
    thread's stack every ``every`` seconds: what ran without yielding, by its innermost
    frames. Diagnosis only (``--stall-stacks``)."""

    def __init__(self, after: float = 0.03, every: float = 0.002, depth: int = 6) -> None:
        self.after, self.every, self.depth = after, every, depth
        self.samples: Counter[tuple[str, ...]] = Counter()
        self._last_tick = time.perf_counter()
        self._running = False
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop_thread = threading.get_ident()

    async def _tick(self) -> None:
        while True:
            self._last_tick = time.perf_counter()
            await asyncio.sleep(self.every)

    def _watch(self) -> None:
        while self._running:
            time.sleep(self.every)
            if time.perf_counter() - self._last_tick < self.after:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)[-self.depth :]
            self.samples[tuple(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack)] += 1

    def start(self) -> None:
        self.samples.clear()
        self._loop_thread = threading.get_ident()
        self._running = True
        self._task = asyncio.ensure_future(self._tick())
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    async def stop(self, top: int = 5) -> list[tuple[int, list[str]]]:
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._thread is not None:
            self._thread.join()
        return [(count, list(stack)) for stack, count in self.samples.most_common(top)]
