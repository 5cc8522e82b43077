"""Alembic environment: runs migrations on the connection setpoint hands over."""

from __future__ import annotations

from alembic import context

from setpoint.store.metadata.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - setpoint always passes a connection
    raise RuntimeError("run migrations through `setpoint db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
