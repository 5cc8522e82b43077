"""Garbage collection of blobs no table references any more (``setpoint gc``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from setpoint.core.types import GcReport
from setpoint.store.metadata import runs as repo

if TYPE_CHECKING:
    from setpoint.store.artifacts.blobs import BlobStore
    from setpoint.store.metadata.database import Database


def collect_garbage(
    db: Database,
    blobs: BlobStore,
    *,
    dry_run: bool = True,
    min_age_s: float = 3600.0,
    verify: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> GcReport:
    """Find (and unless ``dry_run``, delete) unreferenced blobs older than ``min_age_s``, and
    the temporary files of writes that never finished; with ``verify``, also every blob whose
    bytes no longer hash to its digest (one cut short by a power loss, say), so that adding
    the same data again stores it afresh; ``progress(bytes hashed, bytes in all)`` is called
    after each blob it hashes. It also forgets the metric batch ids of runs that ended
    before the same cutoff (one row per flush of a run, kept against a retried request).

    The age guard protects blobs written by a writer that has not yet committed the row that
    references them (a blob is always stored before its row).
    """
    cutoff = time.time() - min_age_s
    if not dry_run:  # what a gc killed half-way through a deletion moved aside
        held: list[set[str]] = []  # the references, read once if anything was left aside

        def keep(digest: str, mtime: float) -> bool:
            if mtime >= cutoff:
                return True
            if not held:
                with db.read() as conn:
                    held.append(repo.referenced_digests(conn))
            return digest in held[0]

        blobs.restore_set_aside(keep)
    # List blobs before reading references: a blob whose row commits in between is then kept.
    stored = list(blobs.iter_digests())
    corrupted = _corrupted(blobs, stored, progress) if verify else []
    if not dry_run:
        for digest in corrupted:
            if not blobs.verify(digest):  # not made whole again by a writer meanwhile
                blobs.delete(digest)
    bad = set(corrupted)
    stored = [entry for entry in stored if entry[0] not in bad]
    with db.read() as conn:
        referenced = repo.referenced_digests(conn)
    garbage = [(d, size) for d, size, mtime in stored if d not in referenced and mtime < cutoff]
    deleted = 0
    freed = 0
    if not dry_run and garbage:
        # Look again right before deleting: a reference may have committed since the listing.
        with db.read() as conn:
            referenced = repo.referenced_digests(conn)
        for digest, size in garbage:
            # a writer that reused the blob since the listing refreshed its time before
            # committing its reference: such a blob is kept (see BlobStore._reuse)
            if digest not in referenced and blobs.delete_unless_touched(digest, cutoff):
                deleted += 1
                freed += size
    stale, stale_bytes = blobs.remove_stale_temporaries(cutoff, dry_run=dry_run)
    forgotten = db.write_retrying(
        lambda conn: repo.forget_metric_batches(conn, int(cutoff * 1000), dry_run)
    )
    return GcReport(
        stale_temporaries=stale,
        referenced=len(referenced),
        unreferenced=[d for d, _ in garbage],
        deleted=deleted,
        bytes_freed=(freed if not dry_run else sum(s for _, s in garbage)) + stale_bytes,
        dry_run=dry_run,
        corrupted=corrupted,
        forgotten_batch_ids=forgotten,
    )


def _corrupted(
    blobs: BlobStore,
    stored: list[tuple[str, int, float]],
    progress: Callable[[int, int], None] | None,
) -> list[str]:
    total = sum(size for _, size, _ in stored)
    done = 0
    bad = []
    for digest, size, _ in stored:
        if not blobs.verify(digest):
            bad.append(digest)
        done += size
        if progress is not None:
            progress(done, total)
    return bad
