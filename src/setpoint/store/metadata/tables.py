"""Table definitions (SQLAlchemy Core). Migrations under migrations/versions create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from setpoint.store.metadata.statements import VALUE_INDEX_PREFIX

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),  # NULL: not deleted
)

project_tags = Table(
    "project_tags",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("parent_id", String(32)),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("host", String(255)),
    Column("user", String(255)),
    Column("python_version", String(32)),
    Column("packages", Text),  # JSON object {package: version}
    Column("error", Text),
    Column("heartbeat_at", BigInteger),
    Column("deleted_at", BigInteger),  # NULL: not deleted (status is kept apart from this)
    Index("ix_runs_project_start", "project_id", "start_time"),
    Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
    Index("ix_runs_parent", "parent_id"),
)

# Datasets a run read that setpoint does not hold as dataset versions (MLflow's dataset
# inputs: a name, a digest and where the data came from), with their tags (e.g. the context).
run_inputs = Table(
    "run_inputs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source_type", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text),
    Column("profile", Text),
    Column("tags", Text, nullable=False),  # JSON object
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("run_id", "name", "digest", name="uq_run_inputs_run_name_digest"),
)

# The metric batches a run has stored, by the id its writer gave each request: a request sent
# again after its answer was lost (a client timeout, a connection dropped during COMMIT) is
# recognised and stored once.
metric_batches = Table(
    "metric_batches",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("batch_id", String(64), primary_key=True),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)
Index("ix_params_key_value", params.c.key, func.substr(params.c.value, 1, VALUE_INDEX_PREFIX))

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)
Index("ix_tags_key_value", tags.c.key, func.substr(tags.c.value, 1, VALUE_INDEX_PREFIX))

# One row per (run, metric key): the latest point (highest step, then timestamp), used by
# search and run listings. The full series lives in metric_chunks.
metric_series = Table(
    "metric_series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Double),  # NULL stands for NaN (SQLite cannot store NaN)
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    UniqueConstraint("run_id", "key", name="uq_metric_series_run_key"),
    Index("ix_metric_series_key_value", "key", "value"),
)

# Metric points, stored columnar: one row per series per flush, holding little-endian int64
# steps and timestamps and float64 values (NaN included). A flush of 1,000 points of one key
# is one row, and a history read decodes arrays instead of building a row per point.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", Integer, ForeignKey("metric_series.id"), nullable=False),
    Column("count", Integer, nullable=False),
    Column("step_data", LargeBinary, nullable=False),
    Column("time_data", LargeBinary, nullable=False),
    Column("value_data", LargeBinary, nullable=False),
    Index("ix_metric_chunks_series", "series_id", "id"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_artifacts_digest", "digest"),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_kind", String(32), nullable=False),
    Column("source_id", String(200), nullable=False),
    Column("relation", String(32), nullable=False),
    Column("target_kind", String(32), nullable=False),
    Column("target_id", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint(
        "source_kind",
        "source_id",
        "relation",
        "target_kind",
        "target_id",
        name="uq_lineage_edges_edge",
    ),
    Index("ix_lineage_edges_target", "target_kind", "target_id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
    Column("user_id", Integer),  # the user the token acts for (NULL: made before users)
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),
)

# An immutable snapshot: the Parquet blob holding the data, and the facts read from it.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("schema", Text, nullable=False),  # JSON list of {"name", "type"}
    Column("source", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("parents", Text, nullable=False),  # JSON list of "project/name@version"
    Column("creator", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False, server_default="table"),  # table | files
    Column("profile_digest", String(64)),  # JSON profile blob (tables)
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_version"),
    Index("ix_dataset_versions_dataset_digest", "dataset_id", "digest"),
    Index("ix_dataset_versions_digest", "digest"),
)

# The files of a "files" version (its digest is the manifest's).
dataset_files = Table(
    "dataset_files",
    metadata,
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("path", Text, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_dataset_files_digest", "digest"),
)

# Validation results, kept with the version they judged.
dataset_validations = Table(
    "dataset_validations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False),
    Column("suite", String(255), nullable=False),
    Column("suite_digest", String(64), nullable=False),
    Column("environment", String(128)),
    Column("passed", Boolean, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    Column("result", Text, nullable=False),  # JSON: one entry per check
    Column("creator", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_dataset_validations_version", "version_id", "created_at"),
)

# A named model in a project; its versions are the registered model packages.
models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("tags", Text, nullable=False, server_default="{}"),  # JSON object
    # A deleted model is renamed to "<name>~<id>" (never a valid name), freeing its name.
    Column("deleted_at", BigInteger),
    UniqueConstraint("project_id", "name", name="uq_models_project_name"),
)

# A model name reserved before its first version (MLflow's create_registered_model): a
# setpoint model lives in a project, which that version names; until then the name waits here.
model_reservations = Table(
    "model_reservations",
    metadata,
    Column("name", String(300), primary_key=True),  # as the MLflow client gave it
    Column("description", Text, nullable=False),
    Column("tags", Text, nullable=False),  # JSON object
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# An immutable model package (a manifest blob listing its files) with what it was made from.
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # the package manifest blob
    Column("size", BigInteger, nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("meta", Text, nullable=False),  # JSON: the package's model.json
    Column("run_id", String(32)),
    Column("status", String(16), nullable=False),  # candidate | approved | rejected | archived
    Column("description", Text, nullable=False),
    Column("tags", Text, nullable=False),  # JSON object
    Column("creator", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),  # NULL: not deleted; numbers of deleted ones stay used
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    Index("ix_model_versions_run", "run_id"),
)

# The package files of a model version (content-addressed blobs).
model_files = Table(
    "model_files",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_model_files_digest", "digest"),
)

# Where each alias points now; the row is locked while an alias moves.
model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id")),  # NULL: removed
    Column("updated_at", BigInteger, nullable=False),
)

# Every move of an alias: from which version to which, by whom, why, and how.
alias_moves = Table(
    "alias_moves",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer),
    Column("to_version", Integer),
    Column("action", String(16), nullable=False),  # set | promote | rollback | remove
    Column("forced", Boolean, nullable=False),
    Column("actor", String(255)),
    Column("reason", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_alias_moves_model_alias", "model_id", "alias", "id"),
)

# Evaluations of a model version on a dataset version (metrics, slices, importances).
model_evaluations = Table(
    "model_evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("dataset", String(300), nullable=False),  # project/name@version
    Column("target", String(250), nullable=False),
    Column("task", String(16), nullable=False),  # classification | regression
    Column("metrics", Text, nullable=False),  # JSON object of numbers
    Column("result", Text, nullable=False),  # JSON: confusion matrix, slices, importances
    Column("creator", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_model_evaluations_version", "version_id", "created_at"),
)

# Approvals of a version for an alias, and every gate evaluation of a promotion attempt.
model_approvals = Table(
    "model_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("version_id", "alias", "actor", name="uq_model_approvals_version_alias_actor"),
)

# The promotion policy (YAML text) that guards one alias of a model.
model_policies = Table(
    "model_policies",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("actor", String(255)),
    Column("updated_at", BigInteger, nullable=False),
)

model_promotions = Table(
    "model_promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("result", Text, nullable=False),  # JSON: one entry per gate
    Column("actor", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_model_promotions_version", "version_id", "created_at"),
)

# The audit trail: append-only and hash-chained (each event's hash covers the previous one's),
# so an edited or deleted event breaks the chain. audit_head holds the last event and is the
# row appenders lock, which keeps sequence numbers gap-free and in chain order.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("project", String(128)),
    Column("subject_kind", String(32), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("before", Text),  # JSON
    Column("after", Text),  # JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_project_seq", "project", "seq"),
    Index("ix_audit_events_subject", "subject_kind", "subject"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# People (and service accounts); tokens belong to a user; roles are granted per project
# ("*" grants a role in every project).
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger),
)

role_grants = Table(
    "role_grants",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("project", String(128), primary_key=True),
    Column("role", String(16), nullable=False),  # viewer | editor | approver | admin
    Column("created_at", BigInteger, nullable=False),
)

# Pipelines run on a cron schedule or when a dataset gets a new version; each occurrence is
# claimed once (the unique key), so two schedulers never run the same occurrence twice.
schedules = Table(
    "schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("target", Text, nullable=False),  # path/to/file.py:pipeline
    Column("params", Text, nullable=False),  # JSON object
    Column("cron", String(128)),
    Column("dataset", String(300)),  # project/name: run on each new version
    Column(
        "alert", String(128)
    ),  # a monitor of the schedule's project ("*": any): run on its alerts
    Column("enabled", Boolean, nullable=False),
    Column("actor", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Column("workdir", Text),  # the folder it was added in: its runs start there
    UniqueConstraint("project_id", "name", name="uq_schedules_project_name"),
)

schedule_occurrences = Table(
    "schedule_occurrences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule_id", Integer, ForeignKey("schedules.id"), nullable=False),
    Column("occurrence", String(300), nullable=False),  # a UTC minute, or a dataset version
    Column("due_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # running | succeeded | failed | missed
    Column("run_id", String(32)),
    Column("error", Text),
    Column("claimed_by", String(255)),
    Column("claimed_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    UniqueConstraint(
        "schedule_id", "occurrence", name="uq_schedule_occurrences_schedule_occurrence"
    ),
    Index("ix_schedule_occurrences_schedule_due", "schedule_id", "due_at"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("monitor", String(128), nullable=False),
    Column("severity", String(16), nullable=False),  # warning | critical
    Column("message", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON object
    Column("actor", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Column("rule", String(64)),  # which rule of the monitor raised it (None: raised by hand)
    Column("status", String(16)),  # open | resolved (None: before statuses, read as open)
    Column("resolved_at", BigInteger),
    Index("ix_alerts_project_monitor_created", "project_id", "monitor", "created_at"),
    # at most one open alert per rule of a monitor: two schedulers (or a scheduler and
    # `monitor run`) that find one breach raise one alert, so one webhook and one retraining.
    # Partial (WHERE status = 'open') on both dialects, as migration 0013 makes it; declared
    # with SQLite's option alone, as a PostgreSQL option here would load SQLAlchemy's
    # PostgreSQL dialect at every import of the tables (tens of ms of each command's start).
    Index(
        "ux_alerts_open_rule",
        "project_id",
        "monitor",
        "rule",
        unique=True,
        sqlite_where=text("status = 'open'"),
    ),
)

monitors = Table(
    "monitors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("deployment", String(128), nullable=False),
    Column("reference", String(300), nullable=False),  # dataset version ref
    Column("config", Text, nullable=False),  # JSON: window, rules, sensitive columns, webhook
    Column("enabled", Boolean, nullable=False),
    Column("actor", String(255)),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_monitors_project_name"),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id"), nullable=False),
    Column("start_at", BigInteger, nullable=False),
    Column("end_at", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("labeled", BigInteger, nullable=False),
    Column("result", Text, nullable=False),  # JSON: drift per feature, metrics, fairness
    Column("computed_at", BigInteger, nullable=False),
    UniqueConstraint("monitor_id", "start_at", name="uq_monitor_windows_monitor_start"),
)

prediction_logs = Table(
    "prediction_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("deployment", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # predictions | feedback
    Column("day", String(10), nullable=False),  # UTC, YYYY-MM-DD
    Column("digest", String(64), nullable=False),  # the Parquet file's blob
    Column("rows", BigInteger, nullable=False),
    Column("first_at", BigInteger, nullable=False),
    Column("last_at", BigInteger, nullable=False),
    Column("dropped", BigInteger, nullable=False),  # rows the server dropped before this file
    Column("created_at", BigInteger, nullable=False),
    Index("ix_prediction_logs_deployment_day", "project_id", "deployment", "kind", "day"),
)

# Every table column that holds an artifact digest: `setpoint gc` keeps what these reference.
# Later tables that point at blobs register here.
DIGEST_COLUMNS = [
    artifacts.c.digest,
    dataset_versions.c.digest,
    dataset_versions.c.profile_digest,
    dataset_files.c.digest,
    model_versions.c.digest,
    model_files.c.digest,
    prediction_logs.c.digest,
]
