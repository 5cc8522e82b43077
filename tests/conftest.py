"""Shared fixtures: stores on SQLite and PostgreSQL, a moto S3 server, SDK clients in both modes.

Contract tests take the ``client`` fixture and so run against local SQLite, local PostgreSQL
and a real HTTP server (remote mode). Under ``CI=true`` a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from ports import free_port
from s3server import BUCKET, make_bucket, start_s3_server
from setpoint.client import sdk
from setpoint.client.local import LocalClient
from setpoint.client.remote import RemoteClient
from setpoint.core.config import Settings
from ui_support import PROJECT, UiServer

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


@pytest.fixture
def ml(client: Any, serve: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real MLflow client against a setpoint server over ``client``'s store (and
    ``mlflow.*`` calls too: MLFLOW_TRACKING_URI points at it), without retries."""
    from mlflow.tracking import MlflowClient

    server = serve(client)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return MlflowClient(server.url)


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


# ---------------------------------------------------------------- the command line


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SETPOINT_HOME that the SDK's default client (and so the CLI) opens."""
    monkeypatch.setenv("SETPOINT_HOME", str(tmp_path / "home"))
    sdk.use(None)
    yield tmp_path / "home"
    sdk.use(None)


@pytest.fixture
def prepare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, str]]:
    """Each (data, work folder) that ingest prepares while the test runs."""
    from setpoint.data import ingest

    calls: list[tuple[object, str]] = []
    real = ingest.prepare

    def recording(data: object, workdir: str) -> Any:
        calls.append((data, workdir))
        return real(data, workdir)

    monkeypatch.setattr(ingest, "prepare", recording)
    return calls


def module_from_source(tmp_path: Path, name: str, source: str) -> Any:
    """Write ``source`` (dedented) to ``tmp_path/name.py`` and import it as module ``name``
    (registered in ``sys.modules``, as steps' code is looked up there)."""
    import importlib.util
    import textwrap

    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def seed(script: str, root: Path) -> str:
    """Run an MLflow seed script on ``root`` in a process of its own; its stdout."""
    out = subprocess.run(
        [sys.executable, "-c", script, str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": ""},
        cwd=root,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``setpoint ARGS`` in this process: (exit code, stdout, stderr)."""
    from setpoint.cli.main import main

    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- the web UI (tests/server/ui)
# A store seeded once per worker by `setpoint quickstart` (runs, a dataset with a failed
# validation, models behind gates, pipeline runs, a deployment with a monitor and alerts),
# copied for each test, and a server over the copy.


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("ui-seed") / "home"
    env = {**os.environ, "SETPOINT_HOME": str(home)}
    env.pop("SETPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "setpoint", "quickstart"],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return home


@pytest.fixture
def ui_home(seeded_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(seeded_home, home)
    return home


@pytest.fixture
def ui(ui_home: Path, serve: Any) -> Iterator[UiServer]:
    """A server (no tokens) over a copy of the seeded store."""
    local = LocalClient(fast_settings(ui_home)).open()
    server = serve(local)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield UiServer(server.url, local, http)
    local.close()


@pytest.fixture
def ui_roles(ui_home: Path, serve: Any) -> Iterator[tuple[UiServer, dict[str, str]]]:
    """A server with ``--auth`` over a copy of the seeded store, and a token per role
    (viewer, editor, approver, admin) in the quickstart project."""
    local = LocalClient(fast_settings(ui_home)).open()
    secrets = {}
    for role in ("viewer", "editor", "approver", "admin"):
        local.users.create(role)
        local.users.grant(role, PROJECT, role)
        secrets[role] = local.tokens.create(f"{role}-browser", role)
    server = serve(local, enforce_roles=True)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield UiServer(server.url, local, http), secrets
    local.close()
