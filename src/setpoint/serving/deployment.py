"""A deployment: the model versions a server answers with, and how traffic reaches them.

The primary alias answers; a canary alias answers a fixed share of requests, chosen by
request id (the same id always goes the same way); a shadow alias scores a copy of the
traffic, logged and never returned. A poller re-resolves the aliases every few seconds:
when one moved, the new version is loaded beside the old one and swapped in at once;
requests already queued finish on the old one, so none is dropped or failed. When the new
version cannot be loaded (the store away, a corrupt file) the old one keeps serving and the
new one is reported not ready, with the reason. When the store answers that an alias (or
the model) no longer exists, a canary or shadow is retired (its traffic goes to the primary,
no more copies are scored) until the alias is set again; the primary keeps answering with
the version it has, reported not ready, since a server with nothing to answer helps no one.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from setpoint.core.errors import NotFoundError
from setpoint.serving.batching import Batcher
from setpoint.serving.metrics import Metrics
from setpoint.serving.protocol import Schema

ROLES = ("primary", "canary", "shadow")
RETRY_S = 60.0  # a version that failed to load is tried again after this long


@dataclass(kw_only=True)
class Slot:
    role: str
    alias: str
    version: Any  # ModelVersion: .name, .version, .ref, .project
    model: Any  # LoadedModel
    schema: Schema
    batcher: Batcher
    loaded_at: float = field(default_factory=time.time)

    @property
    def number(self) -> str:
        return str(self.version.version)


@dataclass(frozen=True, kw_only=True)
class Route:
    role: str
    alias: str
    percent: float = 100.0  # canary share


class Deployment:
    def __init__(
        self,
        name: str,
        model: str,
        routes: list[Route],
        resolve: Callable[[str], Any],
        load: Callable[[Any], Any],
        metrics: Metrics,
        *,
        allow_nan: bool = False,
        max_rows: int = 1024,
        max_wait: float = 0.0,
        poll: float = 2.0,
        scores: bool = False,
        report: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.routes = {r.role: r for r in routes}
        self.resolve = resolve
        self.load = load
        self.metrics = metrics
        self.allow_nan = allow_nan
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.poll = poll
        self.scores = scores
        self.report = report or _to_stderr  # events worth a log line (an alias removed)
        self.slots: dict[str, Slot] = {}  # no canary or shadow while its alias is removed
        self.not_ready: dict[str, str] = {}  # version or alias -> why it is not serving
        self._gone: set[str] = set()  # roles whose alias the store said no longer exists
        self._old: list[Slot] = []
        self._failed: dict[str, float] = {}  # version -> when it last failed to load
        self._poller: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ life

    async def open(self) -> None:
        """Load every alias's version; the server does not start without them."""
        for role, route in self.routes.items():
            version = await asyncio.to_thread(self.resolve, route.alias)
            self.slots[role] = await self._slot(role, route.alias, version)
        if self.poll > 0:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
        for slot in [*self.slots.values(), *self._old]:
            await slot.batcher.stop()

    async def _slot(self, role: str, alias: str, version: Any) -> Slot:
        model = await asyncio.to_thread(self.load, version)
        schema = Schema(getattr(model, "signature", None), allow_nan=self.allow_nan)
        batcher = Batcher(
            model,
            max_rows=self.max_rows,
            max_wait=self.max_wait,
            observe=self.metrics.batch,
            scores=self.scores,
        ).start()
        return Slot(
            role=role, alias=alias, version=version, model=model, schema=schema, batcher=batcher
        )

    # ------------------------------------------------------------ traffic

    def route(self, request_id: str) -> Slot:
        """The slot that answers ``request_id``: the canary for its share of ids, else the
        primary."""
        canary = self.slots.get("canary")
        if canary is not None and bucket(request_id) < self.routes["canary"].percent * 100:
            return canary
        return self.slots["primary"]

    def shadow(self) -> Slot | None:
        return self.slots.get("shadow")

    def by_version(self, version: str) -> Slot | None:
        for slot in self.slots.values():
            if slot.number == version and slot.role != "shadow":
                return slot
        return None

    def versions(self) -> list[str]:
        """The versions that answer (a shadow's answers are never returned: it is not one)."""
        return sorted({s.number for s in self.slots.values() if s.role != "shadow"}, key=int)

    # ------------------------------------------------------------ hot reload

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            await self.refresh()

    async def refresh(self) -> list[str]:
        """Resolve every alias again and swap in versions that moved; what changed. A
        version that failed to load is tried again only after ``RETRY_S`` (not every poll)."""
        changed = []
        targets: set[str] = set()
        now = time.monotonic()
        for role, route in self.routes.items():
            current = self.slots.get(role)
            try:
                version = await asyncio.to_thread(self.resolve, route.alias)
            except NotFoundError as exc:  # a definite answer, not an outage
                targets.add(route.alias)
                changed += self._alias_gone(role, route, current, exc)
                continue
            except Exception as exc:  # the store away: keep serving what we have
                self.metrics.reload_failures += 1
                self.not_ready[route.alias] = f"cannot resolve {route.alias}: {exc}"
                targets.add(route.alias)
                continue
            self.not_ready.pop(route.alias, None)
            if role in self._gone:
                self._gone.discard(role)
                self._event("alias_back", role, route.alias, str(version.version))
            key = str(version.version)
            targets.add(key)
            if current is not None and version.version == current.version.version:
                continue
            failed_at = self._failed.get(key)
            if failed_at is not None and now - failed_at < RETRY_S:
                continue
            try:
                slot = await self._slot(role, route.alias, version)
            except Exception as exc:
                self.metrics.reload_failures += 1
                self.not_ready[key] = f"{type(exc).__name__}: {exc}"
                self._failed[key] = now
                continue
            self.not_ready.pop(key, None)
            self._failed.pop(key, None)
            self.slots[role] = slot  # new requests go here; queued ones finish on the old
            self.metrics.reloads += 1
            was = current.number if current is not None else "none"
            changed.append(f"{route.alias}: {was} -> {slot.number}")
            if current is not None:
                asyncio.get_running_loop().create_task(self._retire(current))
        for key in [k for k in self.not_ready if k not in targets]:  # no longer wanted
            del self.not_ready[key]
        return changed

    def _alias_gone(
        self, role: str, route: Route, current: Slot | None, exc: NotFoundError
    ) -> list[str]:
        """The store says ``route``'s alias (or the model) no longer exists. A canary or
        shadow stops taking traffic, as when an alias moves; the primary keeps answering with
        the version it has. Each is logged once, when it happens."""
        first = role not in self._gone
        self._gone.add(role)
        self.not_ready[route.alias] = f"{exc}: {self._without(route.alias)}"
        if role == "primary":
            if first:
                self.metrics.reload_failures += 1
                self._event("alias_removed", role, route.alias, self.slots[role].number)
            return []
        if current is None:
            return []
        del self.slots[role]  # new requests go to the primary; queued ones finish here
        self.metrics.reloads += 1
        self._event("alias_removed", role, route.alias, current.number)
        asyncio.get_running_loop().create_task(self._retire(current))
        return [f"{route.alias}: {current.number} -> none"]

    def _without(self, alias: str) -> str:
        """What serving does without ``alias``, for each role it had."""
        what = {
            "primary": f"version {self.slots['primary'].number} still answers, loaded before "
            "the alias was removed",
            "canary": "the canary is retired, its share goes to the primary",
            "shadow": "the shadow is retired, no copies are scored",
        }
        return "; ".join(what[r] for r, route in self.routes.items() if route.alias == alias)

    def _event(self, event: str, role: str, alias: str, version: str) -> None:
        self.report(
            {
                "event": event,
                "deployment": self.name,
                "role": role,
                "alias": alias,
                "version": version,
                "detail": self.not_ready.get(alias, ""),
            }
        )

    async def _retire(self, slot: Slot) -> None:
        self._old.append(slot)
        while slot.batcher.pending:
            await asyncio.sleep(0.05)
        await slot.batcher.stop()
        self._old.remove(slot)


def _to_stderr(event: dict[str, Any]) -> None:
    """An event as a JSON line on stderr, beside the access log."""
    sys.stderr.write(orjson.dumps(event).decode() + "\n")
    sys.stderr.flush()


def bucket(request_id: str) -> int:
    """A stable number in [0, 10000) for a request id: the canary takes those under its
    percentage times 100."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000
