"""Adaptive micro-batching: concurrent requests for one model version become one ``predict``.

Requests queue up while the model is busy; when it is free, everything queued (up to
``max_rows``) goes into the next call. Under low load a request is predicted at once, with
no added wait; under load the batches grow by themselves. ``max_wait`` adds an optional
pause to gather more. The model runs on one thread of its own, so the event loop keeps
reading requests meanwhile. When a merged batch fails, its requests are predicted one by
one, so only the request whose rows the model rejects gets the error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from setpoint.serving.protocol import Request


@dataclass(kw_only=True)
class Prediction:
    outputs: dict[str, np.ndarray]
    seconds: float  # the predict call that answered (shared by its batch)
    batch_rows: int


@dataclass(kw_only=True)
class _Item:
    request: Request
    future: asyncio.Future[Prediction]
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    """The queue in front of one loaded model version."""

    def __init__(
        self,
        model: Any,
        *,
        max_rows: int = 1024,
        max_wait: float = 0.0,
        observe: Callable[[int, float], None] | None = None,
        scores: bool = False,
    ) -> None:
        self.model = model
        # also compute the positive class's probability of binary classifiers, for the log
        self.scores = scores and bool(getattr(model, "has_proba", False))
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.observe = observe  # (batch rows, seconds) after each predict call
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="setpoint-predict")
        self._task: asyncio.Task[None] | None = None
        self.pending = 0

    def start(self) -> Batcher:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def predict(self, request: Request) -> Prediction:
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self.pending += 1
        self._queue.put_nowait(_Item(request=request, future=future))
        try:
            return await future
        finally:
            self.pending -= 1

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        self._pool.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            first = await queue.get()
            if first is None:
                return
            batch, rows, stopping = [first], first.request.rows, False
            deadline = time.perf_counter() + self.max_wait
            while rows < self.max_rows:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), left)
                    except TimeoutError:
                        break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                rows += item.request.rows
            try:
                results = await loop.run_in_executor(self._pool, self._predict, batch)
            except BaseException as exc:  # unexpected: every request of the batch learns it
                results = [exc] * len(batch)
            for item, result in zip(batch, results, strict=True):
                if item.future.done():
                    continue  # the client went away
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
            if stopping:
                return

    def _predict(self, batch: list[_Item]) -> list[Prediction | BaseException]:
        try:
            return list(self._call(batch))
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
        out: list[Prediction | BaseException] = []
        for item in batch:  # one by one: only the rows the model rejects fail
            try:
                out.extend(self._call([item]))
            except Exception as exc:
                out.append(exc)
        return out

    def _call(self, batch: list[_Item]) -> list[Prediction]:
        requests = [item.request for item in batch]
        data = _merge(requests)
        proba = self.scores or any(r.proba for r in requests)
        t0 = time.perf_counter()
        predicted = np.asarray(self.model.predict(data))
        probabilities = np.asarray(self.model.predict_proba(data)) if proba else None
        seconds = time.perf_counter() - t0
        total = sum(r.rows for r in requests)
        if self.observe is not None:
            self.observe(total, seconds)
        out, start = [], 0
        for r in requests:
            end = start + r.rows
            outputs = {"predict": predicted[start:end]}
            if r.proba and probabilities is not None:
                outputs["predict_proba"] = probabilities[start:end]
            if self.scores and probabilities is not None and probabilities.shape[1] == 2:
                outputs["score"] = probabilities[start:end, 1]
            out.append(Prediction(outputs=outputs, seconds=seconds, batch_rows=total))
            start = end
        return out


def _merge(requests: list[Request]) -> Any:
    """The model's input for a batch: one pandas DataFrame of the requests' columns (built
    once per batch, not per request), or one stacked array."""
    first = requests[0]
    if first.tensor is not None:
        if len(requests) == 1:
            return first.tensor
        return np.concatenate([r.tensor for r in requests if r.tensor is not None])
    import pandas as pd

    assert first.columns is not None
    if len(requests) == 1:
        columns = first.columns
    else:
        columns = {
            name: np.concatenate([r.columns[name] for r in requests if r.columns is not None])
            for name in first.columns
        }
    return pd.DataFrame(columns, copy=False)
