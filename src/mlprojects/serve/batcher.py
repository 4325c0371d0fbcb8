"""Micro-batching for the REST server: concurrent requests to one model answered by one call of ``predict``.

Requests wait in a queue; one worker thread per model takes, each time it is free, every waiting request with the
same options, up to ``max_batch`` inputs (rows, images, texts), and predicts them together: the kind of input
joins their inputs (``Inputs.join``) and the answer's rows are handed back in order. Nothing waits on purpose
unless ``max_wait`` says so: under load the queue fills while the model runs, and one client alone is answered
at once. A batch that the model refuses (one request's bad cell) is predicted again request by request, so
each bad request has its own one-line error and the others their answers. A kind that cannot join (a series is
one whole sequence) is predicted one request at a time, in the same worker. A batch that the last ones say will
take under ``INLINE`` runs in the event loop instead: for a row of a small table, the hop to the worker thread
and back cost 0.5 ms of 3. A quick request alone on the server (none other being received or answered, so none
could join it) is answered in its own handler, without the hop to the batching task: 15 µs of a row's 275.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mlprojects.errors import UserError
from mlprojects.predict import answers
from mlprojects.rundir import Run

INLINE = 0.002  # seconds: a batch expected to take less is predicted in the event loop, not the worker thread


@dataclass
class Pending:
    inputs: Any
    options: dict[str, Any]
    size: int
    future: asyncio.Future | None  # None: answered at once, in the request's own handler


class Answer:
    """One request's rows, START to STOP, of a batch's answer (column -> one value per input, from
    ``mlprojects.predict.answers``), shared by the batch's requests: each column is made an array once per batch
    (its dtype says how the Open Inference Protocol types it) and read as Python values once."""

    def __init__(self, columns: dict[str, Any], start: int, stop: int, lists: dict[str, list]):
        self.columns, self.start, self.stop, self.lists = columns, start, stop, lists

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self):
        return iter(self.columns)

    def array(self, column: str) -> np.ndarray:
        if not isinstance(self.columns[column], np.ndarray):
            self.columns[column] = np.asarray(self.columns[column])
        return self.columns[column]

    def values(self, column: str) -> list:
        if column not in self.lists:
            values = self.columns[column]  # a list as the kind made it, or an array's Python values
            self.lists[column] = values.tolist() if isinstance(values, np.ndarray) else list(values)
        return self.lists[column][self.start:self.stop]


def rows_of(columns: dict[str, Any]) -> int:
    """How many inputs an answer's columns hold (all hold as many)."""
    return len(next(iter(columns.values()))) if columns else 0


class Batcher:
    """RUN's queue and worker. MAX_BATCH: inputs a batch holds at most (a larger request is a batch of its own);
    MAX_WAIT: seconds the worker waits for more requests once one arrives (0: none); ON_BATCH(inputs): told each
    batch's size."""

    def __init__(self, run: Run, max_batch: int = 64, max_wait: float = 0.0,
                 on_batch: Callable[[int], None] = lambda size: None):
        self.run, self.max_batch, self.max_wait, self.on_batch = run, max_batch, max_wait, on_batch
        self.waiting: deque[Pending] = deque()
        self.worker = ThreadPoolExecutor(1, thread_name_prefix=f"predict-{run.name}")
        self.wakeup: asyncio.Event | None = None
        self.task: asyncio.Task | None = None
        self.per_input = float("inf")  # seconds, measured: a batch expected to take under INLINE runs in the loop
        self.busy = False  # a batch is in the worker thread: a request waits its turn

    async def predict(self, inputs: Any, options: dict[str, Any], alone: bool = False) -> Answer:
        """The answer to one request: predict's rows for INPUTS with OPTIONS (top_k, backtest, strict). ALONE: no
        other request is being received or answered, so none can join a batch: a quick one is answered at once."""
        size = len(inputs) if hasattr(inputs, "__len__") else 1
        if alone and not self.waiting and not self.busy and self.per_input * size < INLINE:
            (answer,) = self._answer([Pending(inputs, options, size, None)], size)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        if self.task is None:
            self.wakeup = asyncio.Event()
            self.task = asyncio.create_task(self._serve())
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(Pending(inputs, options, size, future))
        self.wakeup.set()
        return await future

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.waiting:
                if self.max_wait and self._size() < self.max_batch:
                    await asyncio.sleep(self.max_wait)
                batch = self._take()
                if not batch:
                    continue
                size = sum(p.size for p in batch)
                try:
                    if self.per_input * size < INLINE:
                        replies = self._answer(batch, size)  # a quick one: the worker thread and back would cost more
                    else:
                        self.busy = True
                        replies = await loop.run_in_executor(self.worker, self._answer, batch, size)
                except Exception as error:  # noqa: BLE001 - a fault of ours: every request of the batch says so
                    replies = [error] * len(batch)
                finally:
                    self.busy = False
                for pending, answer in zip(batch, replies):
                    if pending.future.done():  # its client left, or timed out
                        continue
                    if isinstance(answer, BaseException):
                        pending.future.set_exception(answer)
                    else:
                        pending.future.set_result(answer)

    def _size(self) -> int:
        return sum(p.size for p in self.waiting if p.options == self.waiting[0].options)

    def _take(self) -> list[Pending]:
        """The first waiting request, and those after it with the same options while the batch has room."""
        while self.waiting and self.waiting[0].future.done():
            self.waiting.popleft()
        if not self.waiting:
            return []
        first = self.waiting.popleft()
        batch, size, kept = [first], first.size, deque()
        while self.waiting and size < self.max_batch:
            pending = self.waiting.popleft()
            if pending.future.done():
                continue
            if pending.options == first.options and size + pending.size <= self.max_batch:
                batch.append(pending)
                size += pending.size
            else:
                kept.append(pending)
        self.waiting.extendleft(reversed(kept))
        return batch

    def _answer(self, batch: list[Pending], size: int) -> list[Any]:
        """Each request's answer or its error: from one prediction of SIZE inputs where the kind joins them."""
        started = time.perf_counter()
        try:
            return self._predict(batch, size)
        finally:  # the seconds per input, on average over the last batches
            seconds = (time.perf_counter() - started) / max(1, size)
            self.per_input = seconds if self.per_input == float("inf") else 0.8 * self.per_input + 0.2 * seconds

    def _predict(self, batch: list[Pending], size: int) -> list[Any]:
        try:
            joined = self.run.project.inputs.join(self.run, [p.inputs for p in batch])
            result = None if joined is None else answers(self.run, joined, **batch[0].options)
        except UserError as error:
            if len(batch) == 1:
                return [error]
            result = None  # one request's fault: each alone below, for its own message
        if result is not None and rows_of(result) != size:  # answers would go to the wrong requests: a fault of ours
            raise RuntimeError(f"{self.run.project.name}: {rows_of(result)} answers for {size} inputs")
        if result is not None:
            self.on_batch(size)
            answered, at, shared = [], 0, {}
            for pending in batch:
                answered.append(Answer(result, at, at + pending.size, shared))
                at += pending.size
            return answered
        answered = []
        for pending in batch:
            try:
                result = answers(self.run, pending.inputs, **pending.options)
                answered.append(Answer(result, 0, rows_of(result), {}))
                self.on_batch(pending.size)
            except Exception as error:  # noqa: BLE001 - handed to its request, which answers it
                answered.append(error)
        return answered

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.worker.shutdown(wait=False, cancel_futures=True)
