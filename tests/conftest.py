"""Shared fixtures: stores on SQLite and PostgreSQL, a moto S3 server, SDK clients in both modes.

Contract tests take the ``client`` fixture and so run against local SQLite, local PostgreSQL
and a real HTTP server (remote mode). Under ``CI=true`` a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ports import free_port
from s3server import BUCKET, make_bucket, start_s3_server
from setpoint.client import sdk
from setpoint.client.local import LocalClient
from setpoint.client.remote import RemoteClient
from setpoint.core.config import Settings

PG_ADMIN_URL = os.environ.get(
    "SETPOINT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

# Never let a developer's own SETPOINT_* variables leak into tests.
for _var in list(os.environ):
    if _var.startswith("SETPOINT_") and _var not in ("SETPOINT_TEST_PG",):
        del os.environ[_var]


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (per xdist worker), dropped after."""
    try:
        import psycopg  # noqa: F401
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"setpoint_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    from setpoint.store.metadata import migrate
    from setpoint.store.metadata.database import Database

    engine = Database(url)._create_engine()
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    from sqlalchemy import create_engine, text

    from setpoint.store.metadata.tables import metadata

    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # the audit chain's head row is created by the migration, not by appenders
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )
    engine.dispose()


# ---------------------------------------------------------------- S3


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An in-process moto S3 server with the test bucket; started only if an s3 test runs."""
    endpoint, stop = start_s3_server()
    make_bucket(endpoint, BUCKET)
    yield endpoint
    stop()


# ---------------------------------------------------------------- settings and clients


def fast_settings(home: Path, **overrides: Any) -> Settings:
    base = Settings.from_env({"SETPOINT_HOME": str(home)})
    return replace(base, flush_interval=0.05, heartbeat_interval=0.2, **overrides)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return fast_settings(tmp_path / "home")


@pytest.fixture
def pg_settings(tmp_path: Path, pg_database: str) -> Settings:
    _truncate(pg_database)
    return fast_settings(tmp_path / "home", database_url=pg_database)


class ServerThread:
    """A real uvicorn server on loopback, in a thread of this process."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start the setpoint app over a LocalClient: ``with serve(client) as server: ...``."""
    started: list[ServerThread] = []

    def start(local: LocalClient, port: int | None = None, **kw: Any) -> ServerThread:
        from setpoint.server.app import create_app

        st = ServerThread(create_app(local, **kw), port).__enter__()
        started.append(st)
        return st

    yield start
    for st in started:
        st.__exit__()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "remote"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def client(mode: str, request: pytest.FixtureRequest, tmp_path: Path, serve: Any) -> Iterator[Any]:
    """An opened client of the given mode, also installed as the SDK default (``sp.*``)."""
    if mode == "postgres":
        settings = request.getfixturevalue("pg_settings")
    else:
        settings = request.getfixturevalue("sqlite_settings")
    local = LocalClient(settings).open()
    c: Any = local
    if mode == "remote":
        server = serve(local)
        c = RemoteClient(server.url).open()
        settings = replace(settings, server_url=server.url)
    sdk.use(c, settings)
    yield c
    sdk.use(None)
    local.close()


@pytest.fixture
def local(client: Any, mode: str, request: pytest.FixtureRequest) -> LocalClient:
    """Direct access to the store behind ``client`` (to tamper with blobs, read tables)."""
    if isinstance(client, LocalClient):
        return client
    settings = request.getfixturevalue("sqlite_settings")
    return LocalClient(settings).open()
