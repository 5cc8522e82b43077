"""Schema migrations: head in step with the scripts, explicit on PostgreSQL, safe in parallel."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from setpoint.core.errors import SchemaOutOfDateError
from setpoint.store.metadata import migrate
from setpoint.store.metadata.database import Database


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", migrate.MIGRATIONS_DIR)
    assert ScriptDirectory.from_config(cfg).get_current_head() == migrate.HEAD


def test_sqlite_upgrades_itself_and_is_current(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/a/b/setpoint.db").open()
    with db.read() as conn:
        assert migrate.current_revision(conn) == migrate.HEAD
    db.close()


def test_constructing_a_database_does_no_io(tmp_path: Path) -> None:
    Database(f"sqlite:///{tmp_path}/nowhere/setpoint.db")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.postgres
def test_postgres_is_upgraded_explicitly(pg_database: str) -> None:
    from sqlalchemy import create_engine, text

    name = f"setpoint_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_database.rsplit("/", 1)[0] + "/" + name
    try:
        with pytest.raises(SchemaOutOfDateError) as err:
            Database(url).open()
        assert "setpoint db upgrade" in str(err.value)
        _upgrade_in_parallel(url, 4)
        Database(url).open().close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_sqlite_parallel_first_use(tmp_path: Path) -> None:
    _upgrade_in_parallel(f"sqlite:///{tmp_path}/setpoint.db", 4)


def _upgrade_in_parallel(url: str, n: int) -> None:
    script = textwrap.dedent(
        """
        import sys
        from setpoint.store.metadata import migrate
        from setpoint.store.metadata.database import Database
        engine = Database(sys.argv[1])._create_engine()
        print(migrate.upgrade(engine))
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out.strip())
    # exactly one process did the upgrade; the others found the schema current
    assert sorted(outs).count(f"(None, '{migrate.HEAD}')") == 1
    assert outs.count(f"('{migrate.HEAD}', '{migrate.HEAD}')") == n - 1


def test_migrations_build_exactly_the_declared_tables(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from setpoint.store.metadata.tables import metadata

    db = Database(f"sqlite:///{tmp_path}/setpoint.db").open()
    try:
        with db.read() as conn, warnings.catch_warnings():
            # SQLite cannot reflect the expression indexes on params/tags (hence the warnings);
            # every other table, column, index and constraint must match.
            warnings.simplefilter("ignore")
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        db.close()
    assert diff == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty metadata database (nothing migrated) of each dialect."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/setpoint.db"
        return
    from sqlalchemy import create_engine, text

    pg_database = request.getfixturevalue("pg_database")
    name = f"setpoint_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_database.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_duplicate_open_alerts_of_a_rule_are_resolved_but_the_newest(empty_store: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError

    from setpoint.store.metadata.tables import alerts, projects

    engine = Database(empty_store)._create_engine()
    try:
        with engine.connect() as conn:  # a store of 0012, when a breach could raise twice
            cfg = Config()
            cfg.set_main_option("script_location", migrate.MIGRATIONS_DIR)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0012")
            conn.commit()
        rows = [  # (monitor, rule, status, created_at)
            ("live", "drift", "open", 100),
            ("live", "drift", "open", 200),
            ("live", "drift", None, 300),  # raised before alerts had statuses: open
            ("live", "acc", "resolved", 50),
            ("live", "acc", "open", 150),
            ("live", None, "open", 10),  # raised by hand, of no rule
            ("live", None, "open", 20),
            ("other", "drift", "open", 120),
        ]
        with engine.begin() as conn:
            conn.execute(insert(projects).values(id=1, name="mon", description="", created_at=1))
            for monitor, rule, status, at in rows:
                conn.execute(
                    insert(alerts).values(
                        project_id=1, monitor=monitor, severity="warning", message="m",
                        details="{}", created_at=at, rule=rule, status=status,
                    )
                )  # fmt: skip
        assert migrate.upgrade(engine) == ("0012", migrate.HEAD)
        with engine.connect() as conn:
            found = conn.execute(
                select(alerts.c.created_at, alerts.c.status, alerts.c.resolved_at).order_by(
                    alerts.c.id
                )
            ).all()
        assert [tuple(r) for r in found] == [
            (100, "resolved", 200),
            (200, "resolved", 300),
            (300, "open", None),
            (50, "resolved", None),
            (150, "open", None),
            (10, "open", None),
            (20, "open", None),
            (120, "open", None),
        ]
        with pytest.raises(IntegrityError), engine.begin() as conn:  # one open alert per rule
            conn.execute(
                insert(alerts).values(
                    project_id=1, monitor="live", severity="warning", message="m",
                    details="{}", created_at=400, rule="drift", status="open",
                )
            )  # fmt: skip
    finally:
        engine.dispose()
