"""Checks on user-given names and keys, with errors that name the field and the rule."""

from __future__ import annotations

import hashlib
import math
import numbers
import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping

from setpoint.core.errors import InvalidArgumentError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
# Metric, param and tag keys: what MLflow takes, so that its clients' keys are kept as they
# are: letters (what Python's \w takes), digits, '_', '-', '.', '/', ' ' and ':' ("val/loss",
# "lr schedule", "précision"), read as a relative path that normalizing leaves as it is.
_KEY = re.compile(r"[\w.\-/ :]+")

MAX_NAME = 128
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_PROJECT_TAG_VALUE = 20_000  # a project's (MLflow's experiment tags allow as much)
MAX_VERSION = 2**31 - 1  # version numbers of datasets and models
MAX_NOTE = 10_000  # a model's or reservation's description, a reason, a comment


def first_repeated(values: Iterable[str]) -> str | None:
    """The first value given a second time (a column name, an input's), if any."""
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


def is_whole(text: str, digits: int = 18) -> bool:
    """Whether ``text`` is a whole number ``int()`` takes: ASCII digits only (``"²"`` is a
    digit to ``str.isdigit``, and ``int()`` refuses it), at most ``digits`` of them."""
    return text.isascii() and text.isdigit() and len(text) <= digits


def check_name(value: object, field: str) -> str:
    """A project, model or other identifier's name: 1-128 characters, letters, digits, '_',
    '-', '.'. A project name that is not one says which project an MLflow experiment of
    that name is kept in (see ``experiment_project``), a model name which model an MLflow
    registered model of that name is (see ``registered_model``)."""
    try:
        return _check_text(
            value,
            field,
            MAX_NAME,
            lambda v: bool(_NAME.fullmatch(v)),
            "has characters outside ASCII letters, digits, '_', '-', '.' "
            "(and must start with a letter or digit)",
        )
    except InvalidArgumentError as exc:
        hint = {"project": experiment_hint, "model": model_hint}.get(field, lambda _: "")(value)
        if not hint:
            raise
        raise InvalidArgumentError(exc.message + hint, field=field) from None


# The project tag that keeps an MLflow experiment's name where it is not the project's
EXPERIMENT_NAME_TAG = "mlflow.experimentName"
# The model tag that keeps an MLflow registered model's name where it is not the model's
MODEL_NAME_TAG = "mlflow.registeredModelName"


def mlflow_name(name: str, fallback: str) -> str:
    """The setpoint name MLflow's free-text name ``name`` (an experiment's, a registered
    model's) is kept under: ``name`` itself when it is a setpoint name; otherwise its letters,
    digits, '_', '-' and '.' (a run of any other characters becomes one '-', accents are
    dropped; ``fallback`` when none is left) and 8 hex digits of the name's hash, e.g.
    "/Users/ana/fraud" -> "Users-ana-fraud-<hash>". The same name always gives the same
    setpoint name, and two names never share one, so the MLflow API and the MLflow import
    agree without a lookup. The name itself is kept in a tag (``EXPERIMENT_NAME_TAG``,
    ``MODEL_NAME_TAG``)."""
    if len(name) <= MAX_NAME and _NAME.fullmatch(name):
        return name
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", plain).strip("-_.")
    slug = slug[: MAX_NAME - 9].rstrip("-_.") or fallback
    return f"{slug}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def experiment_project(name: str) -> str:
    """The project an MLflow experiment called ``name`` is kept in (see ``mlflow_name``)."""
    return mlflow_name(name, "experiment")


def experiment_hint(project: object) -> str:
    """For a project name that is none ("My Experiment"): where an MLflow experiment of
    that name is kept, to add to the error; else ""."""
    if not isinstance(project, str) or not project or experiment_project(project) == project:
        return ""
    return f"; an MLflow experiment of that name is project {experiment_project(project)!r}"


def registered_model(name: str) -> str:
    """The model an MLflow registered model called ``name`` is kept as (see ``mlflow_name``)."""
    return mlflow_name(name, "model")


def model_hint(model: object) -> str:
    """For a model name that is none ("Fraud Detector"): which model an MLflow registered
    model of that name is, to add to the error; else ""."""
    if not isinstance(model, str) or not model or registered_model(model) == model:
        return ""
    return f"; an MLflow registered model of that name is model {registered_model(model)!r}"


def plain_run_name(text: str | None) -> str:
    """Free text (MLflow's run names, which may be longer or hold tabs) as a run's name:
    control characters become spaces, cut to 128 characters; "" when nothing is left."""
    plain = re.sub(r"[\x00-\x1f\x7f-\x9f]+", " ", text or "").strip()
    return plain[:MAX_NAME].strip()


def check_run_name(value: object, field: str = "name") -> str:
    """A run's name: a label, not an identifier (runs are addressed by id), so free text of
    1-128 characters (the store's column) without control characters (NUL included)."""
    return _check_text(
        value,
        field,
        MAX_NAME,
        lambda v: not any(unicodedata.category(c) == "Cc" for c in v),
        "holds a control character (a tab, a line break, NUL, ...)",
    )


def check_key(value: object, field: str) -> str:
    """A metric, param or tag key: 1-250 characters (see _KEY): no '/' or '..' at its start,
    no empty, '.' or '..' part between slashes."""
    return _check_text(
        value,
        field,
        MAX_KEY,
        _is_key,
        "may hold only letters, digits, '_', '-', '.', '/', ':' and spaces, with no '/' or "
        "'..' at its start and no empty, '.' or '..' part between slashes",
    )


def _is_key(value: str) -> bool:
    if not _KEY.fullmatch(value):
        return False
    plain = posixpath.normpath(value)
    return plain == value and plain != "." and not plain.startswith(("..", "/"))


def _check_text(value: object, field: str, limit: int, ok: Callable[[str], bool], rule: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"{field} must be a string, got {type(value).__name__}", field=field
        )
    if not value:
        raise InvalidArgumentError(f"{field} must not be empty", field=field)
    if len(value) > limit:
        raise InvalidArgumentError(
            f"{field} is {len(value)} characters long; at most {limit} are allowed", field=field
        )
    if not ok(value):
        raise InvalidArgumentError(f"{field} {value!r} {rule}", field=field)
    return value


def check_note(value: object, field: str) -> str:
    """Free text of at most MAX_NOTE characters (a description, a reason, a comment)."""
    if not isinstance(value, str) or len(value) > MAX_NOTE:
        raise InvalidArgumentError(
            f"{field} must be text of at most {MAX_NOTE} characters", field=field
        )
    return value


def check_tags(tags: Mapping[str, object] | None) -> dict[str, str]:
    """Tags checked, keys and values (an empty value kept: it removes a tag)."""
    return {check_key(k, "tags"): tag_value(v, f"tags.{k}") for k, v in (tags or {}).items()}


def check_metric_value(value: object, field: str) -> float:
    """A metric value: any real number (NaN and infinities included), never a string or bool."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(
            f"{field} must be a number, got {type(value).__name__} {value!r}", field=field
        )
    try:
        return float(value)
    except OverflowError:
        raise InvalidArgumentError(
            f"{field} is too large for a 64-bit float: {value!r}", field=field
        ) from None


INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


def is_number(value: object) -> bool:
    """An int or a float of any value (NaN and infinities included), not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_real_number(value: object) -> bool:
    """An int or a float that is not NaN (infinities included), not a bool."""
    return is_number(value) and value == value


def is_finite_number(value: object) -> bool:
    """An int or a finite float, not a bool (what a JSON number can hold)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_whole_number(value: object, low: int | None = None, high: int | None = None) -> bool:
    """An int, not a bool, from ``low`` to ``high`` where they are given."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (low is None or value >= low)
        and (high is None or value <= high)
    )


def fits_64_bits(value: int) -> bool:
    """Whether a whole number fits a signed or unsigned 64-bit integer (what Arrow columns
    and JSON as setpoint writes it hold)."""
    return INT64_MIN <= value <= UINT64_MAX


def check_step(value: object, field: str) -> int:
    """A step or timestamp: an integer that fits the store's 64-bit columns."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(
            f"{field} must be an integer, got {type(value).__name__} {value!r}", field=field
        )
    value = int(value)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgumentError(f"{field} {value} does not fit in 64 bits", field=field)
    return value


def param_value(value: object, field: str) -> str:
    """Params are stored as strings, as the user would write them."""
    text = value if isinstance(value, str) else _param_text(value)
    if len(text) > MAX_PARAM_VALUE:
        raise InvalidArgumentError(
            f"{field} is {len(text)} characters long; at most {MAX_PARAM_VALUE} are allowed",
            field=field,
        )
    return _without_nul(text, field)


def _without_nul(text: str, field: str) -> str:
    """``text``, refused when it holds a NUL character (PostgreSQL cannot store one, and
    SQLite's text functions stop at it: the same value must mean the same on both)."""
    if "\x00" in text:
        raise InvalidArgumentError(f"{field} holds a NUL character (\\x00)", field=field)
    return text


def _param_text(value: object) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return repr(value)
    return str(value)


def tag_value(value: object, field: str, limit: int = MAX_TAG_VALUE) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidArgumentError(
            f"{field} is {len(text)} characters long; at most {limit} are allowed",
            field=field,
        )
    return _without_nul(text, field)


def check_version(version: object) -> int:
    """A dataset or model version number: a whole number from 1 to 2**31 - 1."""
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION:
        raise InvalidArgumentError(
            f"version must be a whole number from 1 to {MAX_VERSION}", field="version"
        )
    return version
