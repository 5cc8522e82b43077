"""The local backend: operations run in this process against the database and blob store."""

from __future__ import annotations

import os
from collections.abc import Callable

from setpoint.api.operations import Api
from setpoint.core.clock import Clock, SystemClock
from setpoint.core.config import Settings
from setpoint.core.errors import ConfigurationError
from setpoint.core.types import GcReport
from setpoint.data.versions import DatasetVersions
from setpoint.governance.audit import AuditLog
from setpoint.governance.tokens import Tokens
from setpoint.governance.users import Users
from setpoint.models.registry import Registry
from setpoint.monitoring.alerts import Alerts
from setpoint.monitoring.monitors import Monitors
from setpoint.pipelines.schedules import Schedules
from setpoint.serving.logs import PredictionLogs
from setpoint.store.artifacts.blobs import BlobStore
from setpoint.store.metadata.database import Database
from setpoint.tracking.artifacts import RunArtifacts
from setpoint.tracking.lineage import Lineage
from setpoint.tracking.runs import Runs


class LocalClient(Api):
    """All operations, in process. Construct, then :meth:`open` (connects, migrates SQLite)."""

    mode = "local"

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.database_url)
        self.blobs = BlobStore.for_settings(settings)
        timeout_ms = int(settings.heartbeat_timeout * 1000)
        audit = AuditLog(self.db, self.clock)
        datasets = DatasetVersions(self.db, self.blobs, self.clock, audit)
        super().__init__(
            Runs(self.db, self.clock, heartbeat_timeout_ms=timeout_ms, audit=audit),
            RunArtifacts(self.db, self.blobs, self.clock),
            Lineage(self.db, self.clock),
            datasets,
            Registry(self.db, self.blobs, self.clock, audit, datasets),
            audit,
            Schedules(self.db, self.clock, audit),
            Alerts(self.db, self.clock, audit),
            PredictionLogs(self.db, self.blobs, self.clock),
            Monitors(self.db, self.clock, audit),
        )
        self.tokens = Tokens(self.db, self.clock, audit)
        self.users = Users(self.db, self.clock, audit)

    def open(self) -> LocalClient:
        home = self.settings.home
        if os.path.exists(home) and not os.path.isdir(home):
            raise ConfigurationError(
                f"SETPOINT_HOME {home} is a file, not a folder", field="SETPOINT_HOME"
            )
        self.db.open()
        self.blobs.open()
        return self

    def close(self) -> None:
        self.db.close()

    def gc(
        self,
        *,
        dry_run: bool = True,
        min_age_s: float = 3600.0,
        verify: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> GcReport:
        from setpoint.store.gc import collect_garbage

        return collect_garbage(
            self.db,
            self.blobs,
            dry_run=dry_run,
            min_age_s=min_age_s,
            verify=verify,
            progress=progress,
        )

    def describe(self) -> str:
        return f"local: {_shown(self.db.url)} · artifacts {self.blobs.url}"


def _shown(url: str) -> str:
    """A database URL as it may be printed: its password (if any) as ***."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # unparsable: its scheme only, credentials or not
        scheme, sep, _ = url.partition("://")
        return f"{scheme}://***" if sep else url
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)
