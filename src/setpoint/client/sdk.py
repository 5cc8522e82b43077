"""The module-level SDK (``import setpoint as sp``): one default client, chosen by settings.

With ``SETPOINT_URL`` set the client is remote (HTTP, ``SETPOINT_TOKEN``); otherwise local
(``SETPOINT_DATABASE_URL`` / ``SETPOINT_ARTIFACTS_URL``, or SQLite and a folder under
``SETPOINT_HOME``). The same code runs unchanged in both modes.
"""

from __future__ import annotations

import atexit
import math
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from setpoint.core.config import Settings, default_project
from setpoint.core.errors import (
    DatasetNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    PipelineError,
    RunNotFoundError,
    SetpointError,
)
from setpoint.core.names import is_whole
from setpoint.core.types import (
    AliasMove,
    Evaluation,
    LineageEdge,
    ModelVersion,
    Project,
    Promotion,
    Run,
)

if TYPE_CHECKING:
    import pandas as pd

    from setpoint.client.datasets import VersionHandle
    from setpoint.client.run import ActiveRun
    from setpoint.client.validation import ValidationReport

_lock = threading.RLock()
_client: Any = None
_settings: Settings | None = None
_active: list[ActiveRun] = []


def client() -> Any:
    """The default client (opened on first use)."""
    global _client, _settings
    with _lock:
        if _client is None:
            settings = Settings.from_env()
            _client = make_client(settings)
            _settings = settings
        return _client


def make_client(settings: Settings) -> Any:
    """An opened client for these settings: remote when a server URL is set, else local."""
    if settings.remote:
        from setpoint.client.remote import RemoteClient

        assert settings.server_url is not None
        return RemoteClient(settings.server_url, settings.token).open()
    from setpoint.client.local import LocalClient

    return LocalClient(settings).open()


def use(new_client: Any, settings: Settings | None = None) -> None:
    """Make ``new_client`` the default (closing the previous one); ``None`` resets to settings."""
    global _client, _settings
    with _lock:
        for run in list(_active):
            run.end("killed", "the SDK client was replaced")
        if _client is not None and _client is not new_client:
            _client.close()
        _client = new_client
        _settings = settings if new_client is not None else None


@contextmanager
def lite_default() -> Iterator[None]:
    """For a command about to mostly start and end runs or add a dataset version
    (client/lite.py): while it lasts, the default client is a LiteClient, when none is
    open yet and the settings allow one; closed at its end, so that what it wrote is copied
    from the WAL into the database file."""
    global _client, _settings
    from setpoint.client.lite import open_lite_client

    with _lock:
        installed = False
        if _client is None:
            settings = Settings.from_env()
            lite = open_lite_client(settings)
            if lite is not None:
                _client, _settings, installed = lite, settings, True
    try:
        yield
    finally:
        if installed:
            use(None)


def settings() -> Settings:
    """The settings the default client was (or will be) made from."""
    return _current_settings()


def _current_settings() -> Settings:
    """The settings of the default client (those it was made from, or given with it)."""
    client()
    return _settings or Settings.from_env()


# ---------------------------------------------------------------- runs


def start_run(
    project: str | None = None,
    name: str | None = None,
    tags: Mapping[str, object] | None = None,
    parent_id: str | None = None,
    nested: bool = False,
) -> ActiveRun:
    """Start a run; use it as a context manager so that it ends (failed, if it raises)."""
    from setpoint.client.run import ActiveRun
    from setpoint.tracking import environment

    c = client()
    settings = _current_settings()
    project = _project(project)
    with _lock:
        if nested and parent_id is None and _active:
            parent_id = _active[-1].id
    run = c.create_run(
        project,
        name,
        {k: str(v) for k, v in (tags or {}).items()},
        parent_id,
        environment.capture(),
    )
    handle = ActiveRun(c, run, settings).start()
    with _lock:
        _active.append(handle)
        _install_hook()
    return handle


def active_run() -> ActiveRun | None:
    with _lock:
        return _active[-1] if _active else None


def end_run(status: str = "finished") -> Run | None:
    run = active_run()
    return None if run is None else run.end(status)


def _require_active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidArgumentError("no active run: call sp.start_run() first", field="run")
    return run


def log_metric(key: str, value: float, step: int | None = None) -> None:
    _require_active().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    _require_active().log_metrics(metrics, step)


def log_param(key: str, value: object) -> None:
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, object]) -> None:
    _require_active().log_params(params)


def set_tag(key: str, value: object) -> None:
    _require_active().set_tag(key, value)


def log_artifact(local_path: str | os.PathLike[str], path: str | None = None) -> Any:
    return _require_active().log_artifact(local_path, path)


def _forget(run: ActiveRun) -> None:
    with _lock:
        if run in _active:
            _active.remove(run)


def _remember(run: ActiveRun) -> None:
    with _lock:
        if run not in _active:
            _active.append(run)


_uncaught: list[str] = []


def _note_uncaught(exc_type: Any, exc: BaseException, tb: Any) -> None:
    import traceback

    _uncaught.append("".join(traceback.format_exception_only(exc_type, exc)).strip())
    _previous_hook(exc_type, exc, tb)


_previous_hook = sys.excepthook


def _install_hook() -> None:
    global _previous_hook
    if sys.excepthook is not _note_uncaught:
        _previous_hook = sys.excepthook
        sys.excepthook = _note_uncaught


@atexit.register
def _end_runs_at_exit() -> None:
    # A script that never ended its run still gets every point flushed, and the run ends
    # failed (with the error) if an uncaught exception is what stopped the script.
    status, error = ("failed", _uncaught[-1][:8000]) if _uncaught else ("finished", None)
    for run in list(reversed(_active)):
        try:
            run.end(status, error)
        except Exception:  # nothing can be reported at exit
            pass


# ---------------------------------------------------------------- queries


def get_run(run_id: str) -> Run:
    return client().get_run(run_id)


def list_projects() -> list[Project]:
    return client().list_projects()


def create_project(name: str, description: str = "") -> Project:
    return client().create_project(name, description)


def search_runs(
    project: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    max_results: int = 1000,
    page_token: str | None = None,
    lifecycle: str = "active",
) -> pd.DataFrame:
    """Runs as a DataFrame: one row per run, columns ``metrics.*``, ``params.*``, ``tags.*``.
    ``lifecycle``: ``active`` (the default: runs not deleted), ``deleted`` or ``all``.

    The token of the next page is in ``df.attrs["next_page_token"]`` (None on the last page).
    """
    projects = (
        [project] if isinstance(project, str) else (None if project is None else list(project))
    )
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    page = client().search_runs(projects, filter, orders, max_results, page_token, lifecycle)
    from setpoint.client.frames import runs_frame

    df = runs_frame(page.runs)
    df.attrs["next_page_token"] = page.next_page_token
    return df


def delete_run(run_id: str) -> Run:
    """Delete a run: it leaves searches and takes no more logging. Nothing is erased;
    :func:`restore_run` undoes it."""
    return client().delete_run(run_id)  # type: ignore[no-any-return]


def restore_run(run_id: str) -> Run:
    """Undo :func:`delete_run`."""
    return client().restore_run(run_id)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- data


def log_dataset(
    data: object,
    name: str,
    project: str | None = None,
    description: str = "",
    parents: Sequence[Any] | None = None,
    kind: str | None = None,
) -> VersionHandle:
    """Version ``data``: a DataFrame, an Arrow table, or CSV/Parquet files, folders, globs
    (stored as a table, profiled); any other files are stored as they are (``kind="files"``,
    also to keep CSV/Parquet files byte for byte).

    Identical data returns the existing version (``v.created`` is False)."""
    from setpoint.client.datasets import log_dataset as _log

    if isinstance(parents, str | bytes):
        raise InvalidArgumentError(
            "parents must be a list of dataset versions, like ['fraud/train@3']", field="parents"
        )
    refs = [p.ref if hasattr(p, "ref") else str(p) for p in parents or []]
    return _log(
        client(),
        data,
        name,
        _project(project),
        description,
        refs,
        os.path.join(_current_settings().home, "cache"),
        kind,
    )


def validate(
    data: Any,
    suite: Any,
    *,
    environment: str | None = None,
    reference: Any = None,
    checks: Mapping[str, Any] | None = None,
    record: bool = True,
    use_profile: bool = True,
) -> ValidationReport:
    """Check ``data`` (a dataset version or its reference like "fraud/tx@3", a DataFrame, an
    Arrow table, or a CSV/Parquet path or glob) against ``suite`` (a YAML file, YAML text or
    a Suite). ``environment`` (e.g. "training", "serving") selects
    which columns are required; ``reference`` (default: the suite's) is the version that
    ``shift`` checks compare against; ``checks`` adds Python checks by name
    (``fn(table) -> bool | int | dict``). A version's result is stored with it."""
    from setpoint.client.validation import resolve_suite
    from setpoint.client.validation import validate as _validate
    from setpoint.tracking.environment import current_user

    if isinstance(data, str | os.PathLike):
        data = _version_or_table(os.fspath(data))
    parsed = resolve_suite(suite, reference_given=reference is not None)
    ref = reference if reference is not None else parsed.reference
    ref_handle: VersionHandle | None = None
    if ref is not None:
        if reference is None:
            ref_handle = _suite_reference(parsed)
        else:
            ref_handle = ref if not isinstance(ref, str) else get_dataset(ref)
        if not hasattr(ref_handle, "profile"):
            raise InvalidArgumentError(
                "reference must be a dataset version (a ref like 'fraud/tx@3' or a handle)",
                field="reference",
            )
        ref_handle._require_table()  # files have no profile to compare with
    if checks is not None and (
        not isinstance(checks, Mapping)
        or not all(isinstance(k, str) and callable(f) for k, f in checks.items())
    ):
        raise InvalidArgumentError(
            "checks must map names to functions (fn(table) -> bool | int | dict)",
            field="checks",
        )
    return _validate(
        client(),
        data,
        parsed,
        environment=environment,
        reference=ref_handle,
        functions=dict(checks or {}),
        record=record,
        use_profile=use_profile,
        creator=current_user(),
    )


def _suite_reference(suite: Any) -> VersionHandle:
    """The version a suite's ``reference:`` names; one it cannot find is said to be the
    suite's (with its file and line), not the data's."""
    try:
        return get_dataset(suite.reference)
    except (NotFoundError, InvalidArgumentError) as exc:
        line = f" line {suite.reference_line}" if suite.reference_line else ""
        message = f"{suite.source}{line}: the suite's reference {suite.reference}: {exc.message}"
        if isinstance(exc, NotFoundError):
            raise type(exc)(message, field="reference") from None
        raise InvalidArgumentError(message, field="reference") from None


def infer_suite(version: Any, *, reference: bool = True) -> str:
    """A YAML suite the version passes (types, nulls, ranges, categories, uniqueness, row
    count; with ``reference``, shift checks against this version)."""
    from setpoint.data.suite import infer_suite as _infer

    v = version if hasattr(version, "profile") else get_dataset(str(version))
    if v.profile is None:
        raise InvalidArgumentError(f"{v.ref} holds files, not a table", field="ref")
    return _infer(v.profile, name=v.name, reference=v.ref if reference else None)


def diff_datasets(a: Any, b: Any, threshold: float = 0.1) -> dict[str, Any]:
    """Schema changes, row counts and per-column drift between two versions."""
    from setpoint.client.validation import diff

    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or threshold < 0
    ):
        raise InvalidArgumentError(
            f"threshold must be a finite number >= 0, got {threshold!r}", field="threshold"
        )
    va = a if hasattr(a, "profile") else get_dataset(str(a))
    vb = b if hasattr(b, "profile") else get_dataset(str(b))
    return diff(va, vb, threshold)


def get_dataset(
    name: str, version: int | str = "latest", project: str | None = None
) -> VersionHandle:
    """A dataset version: ``get_dataset("transactions")`` (latest) or ``version=3``;
    ``name`` may also be a reference like ``"fraud/transactions@3"``."""
    from setpoint.client.datasets import VersionHandle
    from setpoint.data.versions import parse_ref

    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"name must be a dataset name or reference like 'fraud/tx@3', not a "
            f"{type(name).__name__}",
            field="name",
        )
    if "@" in name or "/" in name:
        p, n, v = parse_ref(name, default_project=_project(project), field="name")
        if ("@" in name and version != "latest") or ("/" in name and project is not None):
            raise InvalidArgumentError(
                f"{name!r} names its own project and version: leave out project= and version=",
                field="version",
            )
    else:
        p, n = _project(project), name
        v = None if version == "latest" else _version_number(version)
    c = client()
    return VersionHandle(c.get_dataset_version(n, p, v), c)


def _version_or_table(target: str) -> Any:
    """What a text names to check: a dataset version ("fraud/tx@3", "tx"), or the table of
    a CSV/Parquet path or glob; a bare name that is both is refused as ambiguous."""
    from setpoint.data.ingest import read_table

    if os.path.exists(target) or any(ch in target for ch in "*?["):
        if os.path.exists(target) and os.sep not in target and not target.startswith("."):
            try:  # a bare name that is also a dataset: which one was meant?
                get_dataset(target)
            except SetpointError:  # none, or no store to ask (a file needs none)
                pass
            else:
                raise InvalidArgumentError(
                    f"{target!r} is both a dataset and a path here: write {target}@latest "
                    f"for the dataset, or ./{target} for the files",
                    field="data",
                )
        return read_table(target)
    try:
        return get_dataset(target)
    except (DatasetNotFoundError, InvalidArgumentError) as exc:  # ./x.csv is no dataset's name
        file_like = target.endswith((".csv", ".parquet", ".pq", ".tsv"))
        # "p1/tx@9", or a dataset without that version: the dataset's own error says more
        dataset = exc.field == "version" or ("@" in target and not file_like)
        if not dataset and (os.sep in target or file_like):
            # it reads as a path: say that nothing is there, not that no dataset is
            raise DatasetNotFoundError(
                f"{target} does not exist: no such file, and no dataset of that name",
                field="data",
            ) from None
        raise


def lineage(node: Any) -> list[LineageEdge]:
    """Edges into and out of a run (an id, a Run or a run handle) or a dataset version (a
    handle, a reference like "fraud/tx@3", or a name no run has as id: its latest)."""
    c = client()
    if isinstance(node, str) and ("@" in node or "/" in node):
        node = get_dataset(node)
    if hasattr(node, "ref") and hasattr(node, "digest"):
        return c.get_lineage("dataset_version", node.ref)
    run_id = node if isinstance(node, str) else getattr(node, "id", None)
    if not isinstance(run_id, str):
        raise InvalidArgumentError(
            f"lineage takes a run (an id, a Run or a run handle) or a dataset version, not a "
            f"{type(node).__name__}",
            field="node",
        )
    try:
        c.get_run(run_id)  # an unknown run is an error, not a run with no edges
    except RunNotFoundError:
        if not isinstance(node, str):
            raise
        return c.get_lineage("dataset_version", _latest_named(node).ref)
    return c.get_lineage("run", run_id)


def _latest_named(name: str) -> VersionHandle:
    """The latest version of dataset ``name`` (what ``run.log_input("tx")`` takes), for a
    bare name that is no run's id."""
    try:
        return get_dataset(name)
    except (DatasetNotFoundError, InvalidArgumentError):
        raise RunNotFoundError(
            f"{name!r} is neither a run's id nor a dataset in project {_project(None)}",
            field="node",
        ) from None


def _project(project: str | None) -> str:
    return default_project(project)


def _version_number(version: int | str) -> int:
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return version
    if isinstance(version, str) and is_whole(version) and int(version) >= 1:
        return int(version)
    raise InvalidArgumentError(
        f"version must be a positive number or 'latest', got {version!r}", field="version"
    )


# ---------------------------------------------------------------- models


def log_model(
    model: Any,
    name: str,
    *,
    project: str | None = None,
    input_example: Any = None,
    signature: Any = None,
    flavor: str | None = None,
    description: str = "",
    tags: Mapping[str, object] | None = None,
) -> ModelVersion:
    """Register ``model`` as the next version of ``name``: inside a run, produced by the
    active run (in its project); otherwise directly."""
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidArgumentError("tags must map names to values", field="tags")
    run = active_run()
    if run is not None and project in (None, run.project):
        return run.log_model(
            model,
            name,
            input_example=input_example,
            signature=signature,
            flavor=flavor,
            description=description,
            tags=tags,
        )
    from setpoint.client.models import log_model as _log
    from setpoint.tracking.environment import current_user

    return _log(
        client(),
        model,
        name,
        _project(project),
        input_example=input_example,
        signature=signature,
        flavor=flavor,
        description=description,
        tags={k: str(v) for k, v in (tags or {}).items()},
        actor=current_user(),
    )


def load_model(model: str | ModelVersion, *, trusted: Sequence[str] | None = None) -> Any:
    """Load ``"name@champion"``, ``"name/7"``, ``"project/name/7"`` or a version; the bytes
    are checked against the recorded hashes first. ``m.predict(data)`` takes pandas, Arrow
    or numpy for every flavor. ``trusted`` names extra types a scikit-learn (skops) file may
    hold."""
    from setpoint.client.models import load_model as _load

    return _load(
        client(),
        model,
        None,
        os.path.join(_current_settings().home, "cache"),
        list(trusted) if trusted is not None else None,
    )


def get_model_version(model: str) -> ModelVersion:
    """The version ``"name/7"``, ``"name@alias"`` or ``"name"`` (latest) names."""
    from setpoint.client.models import resolve

    return resolve(client(), model)


def set_alias(
    name: str, alias: str, version: int | None, *, project: str | None = None, reason: str = ""
) -> AliasMove:
    """Point ``alias`` at ``version`` directly (no gates; audited). ``None`` removes it."""
    from setpoint.tracking.environment import current_user

    if isinstance(version, ModelVersion) and project is None:
        project = version.project
    n, v = _model_version_args(name, version, project)
    return client().set_alias(n, alias, v, _model_project(n, project), reason, current_user())


def promote(
    model: str, to: str, *, force: bool = False, reason: str = "", dry_run: bool = False
) -> Promotion:
    """Run ``to``'s gates for ``model`` (``"name/7"``) and move the alias if they all pass.
    A refusal raises :class:`PromotionRefusedError` with ``.promotion`` holding each gate's
    verdict (``dry_run`` returns the verdicts without moving anything)."""
    from setpoint.core.errors import PromotionRefusedError
    from setpoint.tracking.environment import current_user

    mv = get_model_version(model)
    result: Promotion = client().promote(
        mv.name, mv.version, to, mv.project, force, reason, dry_run, current_user()
    )
    if not result.moved and not dry_run:
        failed = [g for g in result.gates if not g["passed"]]
        err = PromotionRefusedError(
            f"{mv.ref} was not promoted to {to!r}: "
            + "; ".join(
                f"{g['rule']}: observed {g['observed']}"
                + (f" ({g['detail']})" if g.get("detail") else "")
                for g in failed
            ),
            field="gates",
        )
        err.promotion = result  # type: ignore[attr-defined]
        raise err
    return result


def approve(model: str, to: str, *, comment: str = "") -> Any:
    """Approve ``model`` (``"name/7"``) for alias ``to``."""
    from setpoint.tracking.environment import current_user

    mv = get_model_version(model)
    return client().approve(mv.name, mv.version, to, mv.project, comment, current_user())


def rollback(name: str, alias: str, *, project: str | None = None, reason: str = "") -> AliasMove:
    """Move ``alias`` back to the version it pointed at before."""
    from setpoint.tracking.environment import current_user

    return client().rollback_alias(
        name, alias, _model_project(name, project), reason, current_user()
    )


def set_policy(
    name: str, alias: str, policy: str | Mapping[str, Any], *, project: str | None = None
) -> str:
    """Guard ``alias`` with a promotion policy: YAML text, a path to a YAML file, or the same
    structure as a Python dict (``{"gates": [{"metric": "roc_auc", "min": 0.8}]}``)."""
    from setpoint.tracking.environment import current_user

    if isinstance(policy, Mapping):
        import yaml

        text = yaml.safe_dump(dict(policy), sort_keys=False)
    elif not isinstance(policy, str):
        raise InvalidArgumentError(
            "policy must be YAML text, a path to a YAML file or a dict", field="policy"
        )
    elif "\n" not in policy and policy.endswith((".yaml", ".yml")):
        try:
            with open(policy, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise InvalidArgumentError(
                f"cannot read policy file {policy}: {reason}", field="policy"
            ) from None
    else:
        text = policy
    return client().set_policy(  # type: ignore[no-any-return]
        name, alias, text, _model_project(name, project), current_user()
    )


def evaluate(
    model: Any,
    data: Any,
    target: str,
    *,
    slices: Sequence[str] = (),
    task: str | None = None,
    importance: bool = True,
    record: bool = True,
) -> Evaluation:
    """Evaluate a registered model (``"name/7"``, a version, or a loaded model) on a dataset
    version (``"fraud/holdout@3"`` or ``sp.get_dataset(...)``): classification or regression
    metrics, per-slice metrics on ``slices`` columns, permutation importance, and the p95
    latency of predict on the input example. Stored with the version (unless ``record`` is
    False) for gates and the model card."""
    from setpoint.client.models import evaluate as _evaluate
    from setpoint.tracking.environment import current_user

    loaded = model if hasattr(model, "predict") else load_model(model)
    version = data if hasattr(data, "to_pandas") else get_dataset(str(data))
    return _evaluate(
        client(),
        loaded,
        version,
        target,
        slices=list(slices),
        task=task,
        importance=importance,
        record=record,
        actor=current_user(),
    )


def model_card(model: str | ModelVersion, format: str = "markdown") -> Any:
    """The model card of a version (``"name/7"``, ``"name@champion"`` or a version): lineage,
    params, metrics, slices, signature, training-data summary, gate results, approvals,
    alias moves, and the ``intended_use`` / ``limitations`` tags. ``format``: "markdown",
    "html" (one offline page) or "dict"."""
    from setpoint.client.cards import model_card as _card
    from setpoint.models import card as render

    version = model if isinstance(model, ModelVersion) else get_model_version(model)
    facts = _card(client(), version)
    if format == "dict":
        return facts
    if format == "html":
        return render.to_html(facts)
    if format == "markdown":
        return render.markdown(facts)
    raise InvalidArgumentError("format must be 'markdown', 'html' or 'dict'", field="format")


def set_model_tags(model: str, /, **tags: str) -> ModelVersion:
    """Set tags of a version (``intended_use=...``, ``limitations=...`` feed the model card);
    an empty value removes a tag."""
    from setpoint.tracking.environment import current_user

    mv = get_model_version(model)
    return client().set_model_tags(  # type: ignore[no-any-return]
        mv.name, mv.version, {k: str(v) for k, v in tags.items()}, mv.project, current_user()
    )


def run_pipeline(
    pipeline: Any,
    params: Mapping[str, Any] | None = None,
    *,
    project: str | None = None,
    tags: Mapping[str, str] | None = None,
    executor: str | Any = "inprocess",
    **kwargs: Any,
) -> Any:
    """Run a ``@sp.pipeline``: each step a tracked run, skipped when an earlier execution with
    the same code, parameters, inputs and environment left its outputs. Parameters go as
    keywords, or as ``params`` (for names like ``project`` or ``tags``); ``tags`` are set on
    the pipeline's run. ``executor``: "inprocess" (default; steps one after another here),
    "process" (independent steps at once in local processes) or "ray"."""
    from setpoint.client.pipelines import run_pipeline as _run
    from setpoint.pipelines.dag import Pipeline

    if not isinstance(pipeline, Pipeline):
        raise InvalidArgumentError(
            "run_pipeline takes a function marked @sp.pipeline", field="pipeline"
        )
    return _run(
        pipeline, {**(params or {}), **kwargs}, project, tags=dict(tags or {}), executor=executor
    )


def sweep(
    pipeline: Any,
    grid: Mapping[str, Sequence[Any]],
    *,
    samples: int | None = None,
    seed: int = 0,
    project: str | None = None,
    executor: str | Any = "inprocess",
    params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Run a pipeline for every combination of ``grid`` (or ``samples`` drawn at random),
    under one sweep run; a DataFrame with one row per pipeline run: its parameters and the
    numbers its steps returned as ``step.key`` columns. Cached steps are shared; on the
    "process" or "ray" executor the runs go side by side. Fixed parameters go as keywords,
    or as ``params`` (for names like ``samples`` or ``seed``)."""
    import pandas as pd

    from setpoint.client.pipelines import sweep as _sweep
    from setpoint.pipelines.dag import Pipeline

    if not isinstance(pipeline, Pipeline):
        raise InvalidArgumentError("sweep takes a function marked @sp.pipeline", field="pipeline")
    values: dict[str, list[Any]] = {}
    for key, given in grid.items() if isinstance(grid, Mapping) else ():
        if isinstance(given, str | bytes | Mapping) or not hasattr(given, "__iter__"):
            raise PipelineError(
                f"grid {key!r} must be a list of values, not {type(given).__name__}", field="grid"
            )
        values[key] = list(given)
    sweep_id, rows = _sweep(
        pipeline,
        values,
        {**(params or {}), **kwargs},
        project,
        samples,
        seed,
        executor,
    )
    df = pd.DataFrame(rows)
    df.attrs["sweep_run_id"] = sweep_id
    return df


def explain_pipeline(run_id: str) -> list[dict[str, Any]]:
    """Why each step of a pipeline run ran (what changed in its key) or was cached."""
    from setpoint.client.pipelines import explain

    return explain(client(), run_id)


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    tests: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
) -> Any:
    """Per-column drift of ``current`` (pandas, polars, Arrow) from ``reference``: rows of the
    same kinds, or a dataset version (its stored profile stands in for the data, which is not
    read again). ``r.dataset_drift``, ``r.share_drifted``, ``r.features["amount"]`` (test,
    statistic, p_value, drifted). ``tests``/``thresholds`` by column or by "numeric" /
    "categorical"; tests: ks, wasserstein, chisquare, jensenshannon, psi."""
    from setpoint.monitoring.drift import drift as _drift

    ref = reference
    if isinstance(reference, str) or hasattr(reference, "digest"):
        version = reference if hasattr(reference, "profile") else get_dataset(str(reference))
        ref = version.profile
        if ref is None:
            raise InvalidArgumentError(
                f"{version.ref} is not a table version: it has no profile", field="reference"
            )
    return _drift(
        ref,
        current,
        columns=list(columns) if columns is not None else None,
        tests=tests,
        thresholds=thresholds,
        drift_share=drift_share,
    )


def add_monitor(
    name: str,
    *,
    deployment: str,
    reference: str,
    window: str = "1h",
    project: str | None = None,
    drift_share: float = 0.5,
    metric_rules: Sequence[Mapping[str, Any]] = (),
    decay_rules: Sequence[Mapping[str, Any]] = (),
    fairness_gap: float | None = None,
    sensitive: Sequence[str] = (),
    webhook: str | None = None,
    target: str | None = None,
    task: str | None = None,
) -> Any:
    """Watch ``deployment``'s prediction log against dataset version ``reference`` in windows
    ("1h", "1d", "10000rows"): drift (dataset drift when ``drift_share`` of the features
    drift), ``metric_rules`` ({"metric": "accuracy", "min": 0.8, "windows": 2}, or "max" for a
    ceiling: {"metric": "rmse", "max": 5}),
    ``decay_rules`` ({"metric": "accuracy", "max_drop": 0.05, "windows": 2}: worse than the
    served version's evaluation by more than that; higher for mae and rmse), a fairness
    gap over the ``sensitive`` columns; alerts go to ``webhook`` and to schedules added with
    ``--on-alert`` this monitor."""
    from setpoint.client.monitoring import parse_window
    from setpoint.tracking.environment import current_user

    config: dict[str, Any] = {
        **parse_window(window),
        "drift_share": drift_share,
        "metric_rules": [dict(r) for r in metric_rules],
        "decay_rules": [dict(r) for r in decay_rules],
        "sensitive": list(sensitive),
    }
    for key, value in (
        ("fairness_gap", fairness_gap),
        ("webhook", webhook),
        ("target", target),
        ("task", task),
    ):
        if value is not None:
            config[key] = value
    in_project = _project(project)
    try:  # "latest" pinned to the version it is now; no project: the monitor's
        version = get_dataset(reference, project=None if "/" in reference else in_project)
    except (NotFoundError, InvalidArgumentError) as exc:
        exc.field = "reference"  # the dataset's name or version: this argument's mistake
        raise
    return client().add_monitor(name, deployment, version.ref, config, in_project, current_user())


def run_monitor(name: str, *, project: str | None = None, now: int | None = None) -> dict[str, Any]:
    """Compute the monitor's windows that are due (complete, not computed yet, or with late
    labels), store them, raise and resolve alerts; what was done."""
    from setpoint.client.monitoring import run_monitor as _run

    c = client()
    p = _project(project)
    m = c.get_monitor(name, p)
    reference = get_dataset(m.reference).profile
    if reference is None:
        raise InvalidArgumentError(f"{m.reference} has no profile", field="reference")
    return _run(c, p, name, reference, now)


def predict_batch(
    model: str,
    source: str,
    dest: str,
    *,
    keep: Sequence[str] | None = None,
    proba: bool = False,
    executor: str = "inprocess",
    threads: int | None = None,
) -> dict[str, Any]:
    """Score CSV/Parquet data of any size (a file, folder or glob) with ``model``
    ("name@champion", "name/7") into Parquet at ``dest``, a record batch at a time, keeping
    the input's key columns (those the model does not take, or ``keep``) beside
    ``prediction`` (and ``proba_<class>`` columns with ``proba``). ``executor="ray"`` scores
    one task per input file into a folder of parts."""
    from setpoint.client.scoring import predict_batch as _predict

    return _predict(
        client(),
        _current_settings(),
        model,
        source,
        dest,
        keep=list(keep) if keep is not None else None,
        proba=proba,
        executor=executor,
        threads=threads,
    )


def prediction_log(
    deployment: str,
    *,
    project: str | None = None,
    since: str | None = None,
    until: str | None = None,
    feedback: bool = True,
) -> pd.DataFrame:
    """What a deployment (``setpoint serve``) predicted: one row per predicted row with the
    request id, time, model version, role (primary, canary, shadow), latency, the inputs
    (``input.<column>``) and the prediction, and the ground truth sent to ``/feedback``
    joined as ``label``. ``since``/``until``: UTC days like "2026-11-23"."""
    from setpoint.client.models import model_project
    from setpoint.client.serving import read_log

    c = client()
    try:
        project = model_project(c, deployment, project)
    except SetpointError:
        project = _project(project)
    return read_log(c, deployment, project, since, until, feedback)


def raise_alert(
    monitor: str,
    message: str,
    *,
    project: str | None = None,
    severity: str = "warning",
    details: Mapping[str, Any] | None = None,
) -> Any:
    """Record an alert of ``monitor`` (``severity`` "warning" or "critical"); schedules
    added with ``--on-alert`` for that monitor run their pipeline on the scheduler's next
    pass. Monitoring raises these itself; call it for checks of your own."""
    from setpoint.tracking.environment import current_user

    return client().raise_alert(
        monitor, message, _project(project), severity, dict(details or {}), current_user()
    )


def autolog(
    *,
    project: str | None = None,
    registered_model_name: str | None = None,
    log_datasets: bool = True,
    disable: bool = False,
) -> None:
    """Make every scikit-learn ``fit`` a tracked run: params, training metrics, the training
    data as a dataset version, and the model registered (as ``registered_model_name``, or
    the estimator's class name). ``disable=True`` turns it off."""
    from setpoint.client.autolog import autolog as _autolog

    _autolog(
        project=project,
        registered_model_name=registered_model_name,
        log_datasets=log_datasets,
        disable=disable,
    )


def _model_version_args(
    name: str, version: int | ModelVersion | None, project: str | None
) -> tuple[str, int | None]:
    if isinstance(version, ModelVersion):
        wanted = project if project is not None else version.project
        if version.name != name or version.project != wanted:
            raise InvalidArgumentError(
                f"version {version.ref} belongs to another model than {wanted}/{name}",
                field="version",
            )
        return name, version.version
    return name, version


def _model_project(name: str, project: str | None) -> str:
    from setpoint.client.models import model_project

    return model_project(client(), name, project)


def get_metric_history(run_id: str, key: str) -> pd.DataFrame:
    """Every point of a metric: columns ``step``, ``value``, ``timestamp`` (ordered by step)."""
    from setpoint.client.frames import history_frame

    return history_frame(client().get_metric_history(run_id, key))
