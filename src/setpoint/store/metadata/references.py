"""Which projects hold a blob: through a run's artifact, a dataset version (its data, profile
or files) a model version (its manifest or files) or a deployment's prediction log. The server lets a caller read a blob
by its digest only through a project it may read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from setpoint.store.metadata.statements import execute as _sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_PROJECTS_OF_DIGEST = """
SELECT p.name FROM artifacts a JOIN runs r ON r.id = a.run_id
  JOIN projects p ON p.id = r.project_id WHERE a.digest = ?
UNION SELECT p.name FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
  JOIN projects p ON p.id = d.project_id WHERE v.digest = ? OR v.profile_digest = ?
UNION SELECT p.name FROM dataset_files f JOIN dataset_versions v ON v.id = f.version_id
  JOIN datasets d ON d.id = v.dataset_id JOIN projects p ON p.id = d.project_id
  WHERE f.digest = ?
UNION SELECT p.name FROM model_versions v JOIN models m ON m.id = v.model_id
  JOIN projects p ON p.id = m.project_id WHERE v.digest = ?
UNION SELECT p.name FROM model_files f JOIN model_versions v ON v.id = f.version_id
  JOIN models m ON m.id = v.model_id JOIN projects p ON p.id = m.project_id
  WHERE f.digest = ?
UNION SELECT p.name FROM prediction_logs l JOIN projects p ON p.id = l.project_id
  WHERE l.digest = ?
"""


def projects_of_digest(conn: Connection, digest: str) -> set[str]:
    """The projects whose runs, dataset versions or model versions reference ``digest``."""
    return {r[0] for r in _sql(conn, _PROJECTS_OF_DIGEST, (digest,) * 7)}
