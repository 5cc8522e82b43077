"""The remote backend: one HTTP call per operation of the API, with the same signatures.

Methods are generated from :func:`setpoint.api.operations.operations`, so a new operation is
available remotely the moment it is defined. Errors come back as the same exception classes.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import typing
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import quote

from setpoint.api.operations import API_PREFIX, OperationSpec, operations
from setpoint.api.wire import dumps_json
from setpoint.core.errors import (
    ArtifactCorruptedError,
    RemoteError,
    SetpointError,
    error_class_for,
)

TIMEOUT_S = 60.0


class RemoteClient:
    """Talks to ``setpoint server`` at ``url``; ``token`` is sent as a bearer token."""

    mode = "remote"

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._http: Any = None

    def open(self) -> RemoteClient:
        if self._http is None:
            import httpx

            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._http = httpx.Client(
                base_url=self.url + API_PREFIX, headers=headers, timeout=TIMEOUT_S
            )
        return self

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def describe(self) -> str:
        return f"remote: {self.url}"

    def upload_file(self, path: str | os.PathLike[str]) -> Any:
        """Stream a local file to the server's blob store."""
        with open(path, "rb") as fh:
            return self.upload_blob(fh)  # type: ignore[attr-defined]

    def local_blob_path(self, digest: str) -> str | None:
        return None  # the store is the server's

    # ------------------------------------------------------------ transport

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        import httpx

        self.open()
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach the setpoint server at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    def _call(self, spec: OperationSpec, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        values = _as_text(_arguments(fn, args, kwargs))
        path = _fill_path(spec, values)
        if spec.method == "GET":
            query = {k: v for k, v in values.items() if v is not None}
            response = self._request("GET", path, params=query)
        else:
            body = dumps_json(values)
            response = self._request(
                spec.method, path, content=body, headers={"Content-Type": "application/json"}
            )
        return _decode(fn, response.content)

    # ------------------------------------------------------------ byte streams

    def _upload(
        self, spec: OperationSpec, fn: Callable[..., Any], args: tuple, kwargs: dict
    ) -> Any:
        values = _arguments(fn, args, kwargs)
        stream = values.pop("stream")
        response = self._request(
            spec.method,
            _fill_path(spec, values),
            content=_chunks(stream),
            headers={"Content-Type": "application/octet-stream"},
        )
        return _decode(fn, response.content)

    def _download(
        self, spec: OperationSpec, fn: Callable[..., Any], args: tuple, kwargs: dict
    ) -> Any:
        values = _arguments(fn, args, kwargs)
        dest = Path(values.pop("dest"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._download_to(_fill_path(spec, values), dest, expect=values.get("digest"))
        return str(dest)

    def download_artifact(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> list[str]:
        from setpoint.tracking.artifacts import check_artifact_path, land_verified

        check_artifact_path(path)  # refused as the local client refuses it
        found = self.list_artifacts(run_id, path)  # type: ignore[attr-defined]
        if not found:
            from setpoint.core.errors import ArtifactNotFoundError

            raise ArtifactNotFoundError(f"run {run_id} has no artifact {path!r}", field="path")
        return land_verified(
            [(PurePosixPath(a.path).relative_to(PurePosixPath(path).parent), a) for a in found],
            dest,
            lambda a, file: self._download_to(
                f"/runs/{quote(run_id, safe='')}/artifacts/{quote(a.path)}", file, a.digest
            ),
        )

    def _download_to(self, url_path: str, target: Path, expect: str | None) -> None:
        """GET ``url_path`` into ``target``, atomically (a temporary name, then a rename), and
        check the bytes against ``expect`` here too: the server verified them before sending,
        this verifies what arrived."""
        import blake3
        import httpx

        self.open()
        h = blake3.blake3()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh, self._http.stream("GET", url_path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response)
                for chunk in response.iter_bytes():
                    h.update(chunk)
                    fh.write(chunk)
            if expect is not None and h.hexdigest() != expect:
                raise ArtifactCorruptedError(
                    f"artifact blake3:{expect} arrived corrupted: its bytes hash to "
                    f"blake3:{h.hexdigest()}"
                )
            os.replace(tmp, target)
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach the setpoint server at {self.url}: {exc}") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _make_method(spec: OperationSpec, fn: Callable[..., Any]) -> Callable[..., Any]:
    handler = {"json": "_call", "stream": "_upload", "download": "_download"}[spec.kind]

    def method(self: RemoteClient, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, handler)(spec, fn, args, kwargs)

    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    method.__signature__ = _signature(fn)  # type: ignore[attr-defined]
    return method


_SIGNATURES: dict[Callable[..., Any], inspect.Signature] = {}
_ADAPTERS: dict[Callable[..., Any], Any] = {}


def _arguments(fn: Callable[..., Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    """The call's arguments by name, defaults filled in, without ``self``."""
    bound = _signature(fn).bind(None, *args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    values.pop("self")
    return values


def _as_text(values: dict[str, Any]) -> dict[str, Any]:
    """Params and tags written as the store writes them (``str`` of the value, a float's
    ``repr``) before they travel: JSON would turn a tuple into a list, NaN into "nan" and
    refuse an int beyond 64 bits, so the same value logged locally and remotely would
    differ."""
    from setpoint.core import names

    for arg, text in (
        ("params", names.param_value),
        ("final_params", names.param_value),
        ("tags", names.tag_value),
    ):
        given = values.get(arg)
        if isinstance(given, dict) and not all(isinstance(v, str) for v in given.values()):
            prefix = "tags" if arg == "tags" else "params"
            values[arg] = {
                k: v if isinstance(v, str) else text(v, f"{prefix}.{k}") for k, v in given.items()
            }
    return values


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    sig = _SIGNATURES.get(fn)
    if sig is None:
        sig = _SIGNATURES[fn] = inspect.signature(fn)
    return sig


def _decode(fn: Callable[..., Any], content: bytes) -> Any:
    import orjson

    adapter = _ADAPTERS.get(fn)
    if adapter is None:
        from pydantic import TypeAdapter

        ret = typing.get_type_hints(fn)["return"]
        adapter = _ADAPTERS[fn] = TypeAdapter(ret)
    data = orjson.loads(content) if content else None
    if data is None:
        return None
    return adapter.validate_python(data)


def _fill_path(spec: OperationSpec, values: dict[str, Any]) -> str:
    path = spec.path
    for name in spec.path_params:
        value = str(values.pop(name))
        path = path.replace(f"{{{name}:path}}", quote(value)).replace(
            f"{{{name}}}", quote(value, safe="")
        )
    return path


def _chunks(stream: BinaryIO, size: int = 1 << 20) -> typing.Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def _error_from(response: Any) -> SetpointError:
    import orjson

    try:
        err = orjson.loads(response.content)["error"]
        cls = error_class_for(err["code"])
        exc = cls.__new__(cls)
        SetpointError.__init__(exc, err["message"], field=err.get("field"))
        if "position" in err:
            exc.position = err["position"]  # type: ignore[attr-defined]
        return exc
    except (ValueError, KeyError, TypeError):
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return RemoteError(
            f"{response.request.url.copy_with(path='/', query=None)} answered HTTP "
            f"{response.status_code} ({kind}) without a setpoint error: is it a setpoint "
            "server (SETPOINT_URL)?"
        )


for _spec, _fn in operations():
    # Downloading a folder of artifacts is the one operation written out by hand above.
    if not (_spec.kind == "download" and _spec.dest == "folder"):
        setattr(RemoteClient, _spec.name, _make_method(_spec, _fn))
