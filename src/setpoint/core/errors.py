"""One exception hierarchy for setpoint; each class carries its HTTP status and a stable code.

The server turns these into ``{"error": {"code", "message", "field"}}`` responses and the
remote client turns such responses back into the same class, so callers catch one type in
both SDK modes.
"""

from __future__ import annotations

from typing import ClassVar


class SetpointError(Exception):
    """Base of every error setpoint raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidArgumentError(SetpointError):
    """A value given by the caller is malformed: raised by name checks, metric and param checks."""

    status = 422
    code = "invalid_argument"


class SuiteError(InvalidArgumentError):
    """A validation suite that cannot be used; the message names the file and line."""

    code = "invalid_suite"

    def __init__(self, message: str, *, field: str = "suite") -> None:
        super().__init__(message, field=field)


class PipelineError(InvalidArgumentError):
    """A step or pipeline that cannot be built or run as declared (missing type hints, inputs
    that do not fit, outputs that cannot be stored); raised before anything runs when it can."""

    code = "invalid_pipeline"

    def __init__(self, message: str, *, field: str = "pipeline") -> None:
        super().__init__(message, field=field)


class WorkerDiedError(PipelineError):
    """The process running a step ended before it answered (killed, crashed, ``os._exit``):
    the step's run, if it began one, is left running for the driver to end."""

    code = "worker_died"


class SourceRefusedError(InvalidArgumentError):
    """A source being imported (an MLflow server) knows the caller but refuses to let them
    read something (403): an experiment they have no role in. The rest is still read."""

    code = "source_refused"

    def __init__(self, message: str, *, field: str = "from") -> None:
        super().__init__(message, field=field)


class FilterSyntaxError(InvalidArgumentError):
    """A search filter or order-by clause does not parse; ``position`` is the 0-based offset."""

    code = "invalid_filter"

    def __init__(self, message: str, *, position: int, text: str, field: str = "filter") -> None:
        pointer = f"{text}\n{' ' * position}^"
        super().__init__(f"{message} at position {position}:\n{pointer}", field=field)
        self.position = position

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "position": self.position}


class UntrustedModelError(InvalidArgumentError):
    """A saved scikit-learn model holds types outside the default trusted set: raised by
    ``setpoint.models.flavors.sklearn.load`` (and so by ``load_model``) before anything is built.
    The message lists the types; after reviewing them the caller passes them as ``trusted=``."""

    code = "untrusted_model"
    types: tuple[str, ...] = ()

    def __init__(
        self, message: str, *, types: tuple[str, ...] = (), field: str = "trusted"
    ) -> None:
        super().__init__(message, field=field)
        self.types = types

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "types": list(self.types)}


class NotFoundError(SetpointError):
    """The named thing does not exist."""

    status = 404
    code = "not_found"


class ProjectNotFoundError(NotFoundError):
    code = "project_not_found"


class RunNotFoundError(NotFoundError):
    code = "run_not_found"


class ArtifactNotFoundError(NotFoundError):
    code = "artifact_not_found"


class DatasetNotFoundError(NotFoundError):
    """Raised for an unknown dataset or dataset version."""

    code = "dataset_not_found"


class ModelNotFoundError(NotFoundError):
    """Raised for an unknown model, model version or alias."""

    code = "model_not_found"


class ConflictError(SetpointError):
    """The request contradicts what is stored (a param re-logged with another value, ...)."""

    status = 409
    code = "conflict"


class ParamConflictError(ConflictError):
    code = "param_conflict"


class PromotionRefusedError(ConflictError):
    """A promotion whose gates did not all pass; ``gates`` holds each gate's verdict."""

    code = "promotion_refused"


class RunNotActiveError(ConflictError):
    """Raised when logging to a run that has already ended."""

    code = "run_not_active"


class ProjectDeletedError(ConflictError):
    """The project is deleted: restore it first."""

    code = "project_deleted"


class AliasedError(ConflictError):
    """What would be deleted is what an alias points at: move the alias first."""

    code = "aliased"


class ArtifactCorruptedError(SetpointError):
    """Stored bytes do not match their recorded BLAKE3 digest; they are never returned."""

    status = 500
    code = "artifact_corrupted"


class SchemaOutOfDateError(SetpointError):
    """The metadata database is behind this version of setpoint: run ``setpoint db upgrade``."""

    status = 503
    code = "schema_out_of_date"


class StoreBusyError(SetpointError):
    """Every connection to the metadata database stayed in use for as long as a caller may
    wait: try again (the server answers 503)."""

    status = 503
    code = "store_busy"


class StoreUnavailableError(SetpointError):
    """The metadata database could not be reached, or its connection was lost mid-way (a
    restart, a network failure): nothing of the failed operation was kept; try again (the
    server answers 503, and buffered metric points are sent again)."""

    status = 503
    code = "store_unavailable"


class ConfigurationError(SetpointError):
    """A setting (environment variable or option) has a value setpoint cannot use."""

    status = 500
    code = "configuration_error"


class PredictionInputError(InvalidArgumentError):
    """A prediction request whose data does not fit the model's signature; ``fields`` maps
    each offending column (or tensor) to what is wrong with it. Raised by the serving layer."""

    code = "invalid_input"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message, field="inputs")
        self.fields = dict(fields or {})

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "fields": self.fields}


class MalformedRequestError(SetpointError):
    """A request body that cannot be read at all (not JSON, not the protocol's shape)."""

    status = 400
    code = "malformed_request"


class UnsupportedMediaTypeError(SetpointError):
    status = 415
    code = "unsupported_media_type"


class AuthenticationError(SetpointError):
    status = 401
    code = "unauthenticated"


class PermissionDeniedError(SetpointError):
    """The caller is known but lacks the role the operation needs in that project."""

    status = 403
    code = "permission_denied"


class PayloadTooLargeError(SetpointError):
    status = 413
    code = "payload_too_large"


class RemoteError(SetpointError):
    """The server answered with an error this client does not know, or could not be reached."""

    status = 502
    code = "remote_error"


def _all_subclasses(cls: type[SetpointError]) -> list[type[SetpointError]]:
    out: list[type[SetpointError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_class_for(code: str) -> type[SetpointError]:
    """Map a wire error code back to its class (the remote client uses this)."""
    candidates: list[type[SetpointError]] = [SetpointError, *_all_subclasses(SetpointError)]
    for cls in candidates:
        if cls.code == code:
            return cls
    return RemoteError
