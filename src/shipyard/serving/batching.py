"""Adaptive batching: concurrent requests for one endpoint merged into one predict call.

The batcher dispatches at once when no other request is on its way (no added latency at low load) and
otherwise waits up to ``max_wait_ms`` to fill a batch of at most ``max_batch_size`` rows. A batch
never mixes model versions and merging never makes it exceed ``max_batch_size`` rows; a single
request larger than that is its own batch, predicted whole as it would be without batching (batching
is the default: a large request must not pay hundreds of small calls). If a merged batch fails, each
request is retried alone so that one bad request fails alone. Work that would queue beyond
``max_queue_rows`` rows behind others is refused with ``Overloaded``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from shipyard.core.errors import Overloaded
from shipyard.serving.runtime import LoadedVersion, ModelInput, Prediction, concat

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_WAIT_MS = 5.0
DEFAULT_MAX_QUEUE_ROWS = 4096


@dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    """Most rows in one predict call."""
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    """Longest a request waits for others to join its batch (<= 10 ms)."""
    max_queue_rows: int = DEFAULT_MAX_QUEUE_ROWS
    """Rows allowed to wait; beyond that requests get 503 + Retry-After."""

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if not 0 <= self.max_wait_ms <= 10:
            raise ValueError("max_wait_ms must be between 0 and 10")


@dataclass
class _Item:
    loaded: LoadedVersion
    data: ModelInput
    rows: int
    want_proba: bool
    future: asyncio.Future[tuple[Prediction, float, int]]
    enqueued: float = field(default_factory=time.perf_counter)


class AdaptiveBatcher:
    def __init__(
        self,
        config: BatchingConfig,
        executor: Executor,
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.executor = executor
        self.on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.arriving = 0
        """Requests being decoded/validated that will submit soon (set by the data plane)."""

    async def submit(
        self, loaded: LoadedVersion, data: ModelInput, want_proba: bool
    ) -> tuple[Prediction, float, int]:
        """Predict ``data`` as part of a batch: (prediction, seconds queued, batch rows)."""
        rows = len(data)
        # a request alone is always taken (larger ones are predicted in chunks): the limit bounds
        # the work waiting behind others, not the size of one request (that is max_body_bytes')
        if self._queued_rows and self._queued_rows + rows > self.config.max_queue_rows:
            raise Overloaded(
                f"{self._queued_rows} rows are already queued (limit {self.config.max_queue_rows})",
                retry_after=1.0,
            )
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = asyncio.create_task(self._run())
        future: asyncio.Future[tuple[Prediction, float, int]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.append(_Item(loaded, data, rows, want_proba, future))
        self._queued_rows += rows
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _take(self) -> _Item:
        item = self._queue.popleft()
        self._queued_rows -= item.rows
        return item

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        max_rows = self.config.max_batch_size
        max_wait = self.config.max_wait_ms / 1000
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            first = self._take()
            batch, rows = [first], first.rows
            deadline = first.enqueued + max_wait
            while rows < max_rows:
                if self._queue:
                    nxt = self._queue[0]
                    if nxt.loaded is not first.loaded or rows + nxt.rows > max_rows:
                        break
                    batch.append(self._take())
                    rows += nxt.rows
                    continue
                remaining = deadline - time.perf_counter()
                if self.arriving <= 0 or remaining <= 0:
                    break  # nobody else is coming, or waited long enough
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except TimeoutError:
                    break
            started = time.perf_counter()
            live = [item for item in batch if not item.future.cancelled()]
            if not live:
                continue
            if first.loaded.runs_inline(sum(i.rows for i in live)):
                results = self._predict(live)  # cheaper than the hand-off to a thread
            else:
                results = await loop.run_in_executor(self.executor, self._predict, live)
            if self.on_batch is not None:
                self.on_batch(sum(i.rows for i in live))
            for item, result in zip(live, results, strict=True):
                if item.future.done():
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result((result, started - item.enqueued, rows))

    def _predict(self, items: list[_Item]) -> list[Prediction | BaseException]:
        loaded = items[0].loaded
        want = any(i.want_proba for i in items)
        try:
            merged = loaded.predict(concat([i.data for i in items]), want)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            return [self._predict_one(loaded, item) for item in items]
        out: list[Prediction | BaseException] = []
        start = 0
        for item in items:
            out.append(merged.rows(start, start + item.rows))
            start += item.rows
        return out

    @staticmethod
    def _predict_one(loaded: LoadedVersion, item: _Item) -> Prediction | BaseException:
        try:
            return loaded.predict(item.data, item.want_proba)
        except Exception as exc:
            return exc
