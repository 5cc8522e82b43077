"""Reading an MLflow tracking server through its REST API: the same records as
mlflow_database.py, and the files of runs and logged models fetched through the server's
artifact proxy into a temporary folder (removed on close), where the importer reads them."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from setpoint.client.mlflow_database import (
    MlflowExperiment,
    MlflowLoggedModel,
    MlflowRun,
    MlflowVersion,
    short_reason,
)
from setpoint.core.errors import InvalidArgumentError, SourceRefusedError
from setpoint.core.names import is_whole

API = "/api/2.0/mlflow/"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
# Page sizes within MLflow's own limits: searches of experiments and runs, a metric's history,
# registered models, model versions, logged models.
PAGE, HISTORY_PAGE, MODELS_PAGE, VERSIONS_PAGE, LOGGED_PAGE = 1000, 25_000, 1000, 10_000, 100
CREDENTIALS = "set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
REFUSED = "the server refuses to let this user read it (403)"


class MlflowServer:
    """An MLflow tracking server, read only. Construct, then :meth:`open`.

    ``env`` holds the MLflow client's variables (default: this process's environment):
    ``MLFLOW_TRACKING_TOKEN`` (sent as a bearer token), ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD`` (basic auth, preferred when both are set, as MLflow does),
    ``MLFLOW_TRACKING_INSECURE_TLS`` and ``MLFLOW_TRACKING_SERVER_CERT_PATH``. ``page``, when
    given, is the page size of every paged read, and ``transport`` an httpx transport to
    talk through (tests give small pages and a fake server).
    """

    def __init__(
        self,
        url: str,
        env: Mapping[str, str] | None = None,
        page: int | None = None,
        transport: Any = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.env = env
        self.page = page
        self.transport = transport
        self.http: Any = None
        self.folder: Path | None = None  # fetched files, laid out as the server's artifact root
        self._experiments: list[MlflowExperiment] = []
        self._experiment_tags: dict[str, dict[str, str]] = {}
        self._models: list[dict[str, Any]] | None = None
        self._data: dict[str, tuple[list[tuple[str, Any]], list[tuple[str, Any]], list[str]]] = {}
        self._version_tags: dict[tuple[str, int], dict[str, str]] = {}
        self._logged: dict[str, MlflowLoggedModel] | None = None
        self._fetched: dict[str, Path | None] = {}  # artifact path -> its folder here (None: empty)
        self._refused: dict[str, str] = {}  # experiment id -> why its records cannot be read

    def open(self) -> MlflowServer:
        """Connect and check this is an MLflow tracking server (its experiments are read);
        InvalidArgumentError (field ``from``) when it cannot be reached, refuses the
        credentials or answers as something else."""
        import ssl

        import httpx

        env = os.environ if self.env is None else self.env
        if not urlparse(self.url).hostname:
            raise _bad(f"{self.url or 'the URL'} names no host (e.g. http://127.0.0.1:5000)")
        headers: dict[str, str] = {}
        auth: Any = None
        user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
        if user and password:
            auth = httpx.BasicAuth(user, password)
        elif env.get("MLFLOW_TRACKING_TOKEN"):
            headers["Authorization"] = f"Bearer {env['MLFLOW_TRACKING_TOKEN']}"
        verify: Any = True
        if env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            verify = False
        elif env.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            verify = ssl.create_default_context(cafile=env["MLFLOW_TRACKING_SERVER_CERT_PATH"])
        self.http = httpx.Client(
            base_url=self.url,
            headers=headers,
            auth=auth,
            verify=verify,
            timeout=httpx.Timeout(60.0, connect=10.0),
            transport=self.transport,
        )
        try:
            self._experiments = self._read_experiments()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        self._fetched.clear()

    # ------------------------------------------------------------ the records

    def experiments(self) -> list[MlflowExperiment]:
        return list(self._experiments)

    def experiment_tags(self) -> dict[str, dict[str, str]]:
        """Tags of the experiments :meth:`open` read."""
        return {e: dict(tags) for e, tags in self._experiment_tags.items()}

    def refused_experiments(self) -> dict[str, str]:
        """Experiments listed to the caller whose runs (or logged models) the server refuses
        to let it read (403: a user with no role where they are), with why; what they hold is
        left out of :meth:`runs` and :meth:`logged_models`."""
        return dict(self._refused)

    def _refuse(self, experiment_id: str) -> None:
        self._refused.setdefault(experiment_id, REFUSED)

    def runs(self) -> list[MlflowRun]:
        found: dict[str, MlflowRun] = {}
        for e in self._experiments:
            if e.id in self._refused:
                continue
            try:
                found.update(self._runs_of(e.id))
            except SourceRefusedError:  # the other experiments are still read
                self._refuse(e.id)
        # as the database source: oldest first, so a parent is imported before its children
        return sorted(found.values(), key=lambda r: (_order(r.start_time), r.id))

    def _runs_of(self, experiment_id: str) -> dict[str, MlflowRun]:
        found: dict[str, MlflowRun] = {}
        body = {"experiment_ids": [experiment_id], "run_view_type": "ALL"}
        for item in self._pages("POST", "runs/search", body, "runs", PAGE):
            info, data = item.get("info") or {}, item.get("data") or {}
            run_id = str(info.get("run_id") or info.get("run_uuid") or "")
            if not run_id:
                raise _bad(f"{self.url} gave a run without an id in experiment {experiment_id}")
            metrics = {str(m.get("key")) for m in data.get("metrics") or []}
            self._data[run_id] = (
                _pairs(data.get("params")),
                _pairs(data.get("tags")),
                sorted(metrics),
            )
            found[run_id] = MlflowRun(
                id=run_id,
                experiment_id=str(info.get("experiment_id", experiment_id)),
                name=info.get("run_name") or None,
                user=info.get("user_id") or None,
                status=info.get("status"),
                start_time=_whole(info.get("start_time")),
                end_time=_whole(info.get("end_time")),
                artifact_uri=info.get("artifact_uri") or None,
                deleted=info.get("lifecycle_stage") == "deleted",
            )
        return found

    def pairs(self, table: str, run_id: str) -> list[tuple[str, Any]]:
        params, tags, _ = self._data.get(run_id, ([], [], []))
        return params if table == "params" else tags

    def metrics(self, run_id: str) -> list[Any]:
        """(key, value, step, timestamp, is_nan) of every point of the run, by key and step.
        A NaN arrives as "NaN" from MLflow, as null from a server whose JSON has no NaN."""
        rows: list[tuple[str, Any, Any, Any, bool]] = []
        for key in self._data.get(run_id, ([], [], []))[2]:
            query = {"run_id": run_id, "metric_key": key}
            for m in self._pages("GET", "metrics/get-history", query, "metrics", HISTORY_PAGE):
                value = m.get("value")
                nan = ("value" in m and value is None) or str(value).lower() == "nan"
                if isinstance(value, str) and not nan:
                    try:
                        value = float(value)  # "Infinity", "-Infinity"
                    except ValueError:
                        pass  # left as it is: the importer lists the point
                step = _whole(m.get("step", 0))
                stamp = _whole(m.get("timestamp"))
                rows.append((key, math.nan if nan else value, step, stamp, nan))
        rows.sort(key=lambda r: (r[0], _order(r[2]), _order(r[3])))
        return rows

    def versions(self) -> list[MlflowVersion]:
        out = []
        for v in self._pages("GET", "model-versions/search", {}, "model_versions", VERSIONS_PAGE):
            if v.get("current_stage") == "Deleted_Internal":
                continue
            name, number = str(v.get("name", "")), _whole(v.get("version"))
            if not isinstance(number, int):
                raise _bad(f"{self.url} gave a version of {name!r} without a number")
            self._version_tags[(name, number)] = {k: str(val) for k, val in _pairs(v.get("tags"))}
            out.append(
                MlflowVersion(
                    name=name,
                    version=number,
                    description=v.get("description") or "",
                    source=v.get("source") or "",
                    run_id=v.get("run_id") or None,
                    stage=v.get("current_stage"),
                    storage_location=None,  # not in MLflow's REST API
                )
            )
        return sorted(out, key=lambda v: (v.name, v.version))

    def version_tags(self) -> dict[tuple[str, int], dict[str, str]]:
        """Tags of the versions :meth:`versions` read."""
        return dict(self._version_tags)

    def aliases(self) -> list[tuple[str, str, int]]:
        out = []
        for m in self._registered():
            for a in m.get("aliases") or []:
                number = _whole(a.get("version"))
                if isinstance(number, int):
                    out.append((str(m.get("name", "")), str(a.get("alias", "")), number))
        return sorted(out)

    def registered_models(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Registered models: name -> (description, tags)."""
        return {
            str(m.get("name", "")): (
                str(m.get("description") or ""),
                {k: str(v) for k, v in _pairs(m.get("tags"))},
            )
            for m in self._registered()
        }

    def _registered(self) -> list[dict[str, Any]]:
        if self._models is None:
            self._models = list(
                self._pages("GET", "registered-models/search", {}, "registered_models", MODELS_PAGE)
            )
        return self._models

    def logged_models(self) -> dict[str, MlflowLoggedModel]:
        """MLflow 3's logged models, by id; none from a server without them (MLflow 2
        answers 404). Those of an experiment the caller may not read are left out (see
        :meth:`refused_experiments`)."""
        if self._logged is None:
            found: dict[str, MlflowLoggedModel] = {}
            ids = [e.id for e in self._experiments if not e.deleted and e.id not in self._refused]
            for i in range(0, len(ids), 100):
                batch = ids[i : i + 100]
                try:
                    found.update(self._logged_in(batch))
                except SourceRefusedError:  # some of them may not be read: each on its own
                    for one in batch:
                        try:
                            found.update(self._logged_in([one]))
                        except SourceRefusedError:
                            self._refuse(one)
            self._logged = found
        return self._logged

    def _logged_in(self, experiment_ids: list[str]) -> dict[str, MlflowLoggedModel]:
        found: dict[str, MlflowLoggedModel] = {}
        body = {"experiment_ids": experiment_ids}
        pages = self._pages(
            "POST", "logged-models/search", body, "models", LOGGED_PAGE, missing_ok=True
        )
        for m in pages:
            info = m.get("info") or {}
            if info.get("model_id"):
                created = _whole(info.get("creation_timestamp_ms"))
                found[str(info["model_id"])] = MlflowLoggedModel(
                    experiment_id=str(info.get("experiment_id", "")),
                    artifact_location=info.get("artifact_uri") or None,
                    name=str(info.get("name") or "model"),
                    created_at=created if type(created) is int else None,
                    source_run_id=info.get("source_run_id") or None,
                )
        return found

    # ------------------------------------------------------------ files

    def serves(self, uri: str | None) -> bool:
        """Whether :meth:`local_folder` fetches what ``uri`` names (``mlflow-artifacts:``)."""
        return urlparse(uri or "").scheme == "mlflow-artifacts"

    def local_folder(self, uri: str | None) -> Path | None:
        """The folder here holding what an ``mlflow-artifacts:`` URI names, fetched through the
        artifact proxy the first time; None for another kind of URI or when nothing is there.
        InvalidArgumentError when a file cannot be fetched."""
        parsed = urlparse(uri or "")
        if parsed.scheme != "mlflow-artifacts":
            return None
        parts = [p for p in unquote(parsed.path).split("/") if p not in ("", ".")]
        if not parts or ".." in parts or any("\\" in p for p in parts):
            return None
        path = "/".join(parts)
        for done, folder in self._fetched.items():
            if path == done or path.startswith(done + "/"):
                if folder is None:
                    return None
                here = folder / path[len(done) :].lstrip("/")
                return here if here.is_dir() else None
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="setpoint-mlflow-import-"))
        target = self.folder / path
        for inner in [p for p in self._fetched if p.startswith(path + "/")]:
            del self._fetched[inner]  # fetched again as part of this folder
        try:
            fetched = self._fetch(path, target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)  # a half-fetched folder is never used
            raise
        self._fetched[path] = target if fetched else None
        return self._fetched[path]

    def _fetch(self, path: str, target: Path) -> int:
        """Every file below ``path`` on the server into ``target``; how many there were."""
        count = 0
        todo = [(path, target)]
        while todo:
            here, folder = todo.pop()
            try:
                listed = self._call("GET", ARTIFACTS, {"path": here})
            except _NotMlflow as exc:
                raise _bad(exc.message) from None
            for f in listed.get("files") or []:
                name = str(f.get("path") or "").rsplit("/", 1)[-1]
                if name in ("", ".", "..") or "\\" in name:
                    raise _bad(f"{self.url} listed a file named {name!r} in {here}")
                if f.get("is_dir"):
                    todo.append((f"{here}/{name}", folder / name))
                else:
                    self._download(f"{here}/{name}", folder / name)
                    count += 1
        return count

    def _download(self, path: str, dest: Path) -> None:
        import httpx

        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.http.stream("GET", f"{ARTIFACTS}/{quote(path)}") as r:
                if r.status_code != 200:
                    r.read()
                    raise _bad(f"cannot fetch {path}: {_why(r)}")
                with open(dest, "wb") as fh:
                    for chunk in r.iter_bytes(1 << 20):
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            raise _bad(f"cannot fetch {path}: {short_reason(exc)}") from None

    # ------------------------------------------------------------ HTTP

    def _read_experiments(self) -> list[MlflowExperiment]:
        out = []
        try:
            body = {"view_type": "ALL"}
            for e in self._pages(
                "POST", "experiments/search", body, "experiments", PAGE, probe=True
            ):
                self._experiment_tags[str(e["experiment_id"])] = {
                    k: "" if v is None else str(v) for k, v in _pairs(e.get("tags"))
                }
                out.append(
                    MlflowExperiment(
                        id=str(e["experiment_id"]),
                        # not made up: a name that is no text (null) is the importer's to list
                        name=e["name"] if isinstance(e.get("name"), str) else "",
                        artifact_location=e.get("artifact_location"),
                        deleted=e.get("lifecycle_stage") == "deleted",
                    )
                )
        except _NotMlflow as exc:
            raise _bad(f"{self.url} is not an MLflow tracking server ({exc.message})") from None
        except (KeyError, TypeError, AttributeError) as exc:
            why = f"an experiment without {exc}" if isinstance(exc, KeyError) else exc
            raise _bad(f"{self.url} is not an MLflow tracking server ({why})") from None
        return out

    def _pages(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        key: str,
        size: int,
        missing_ok: bool = False,
        probe: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """The items under ``key`` of every page; with ``missing_ok``, nothing when the
        server has no such endpoint (404). With ``probe``, an answer no MLflow server gives
        raises :class:`_NotMlflow`; otherwise an InvalidArgumentError (field ``from``)."""
        try:
            token: str | None = None
            seen: set[str] = set()
            while True:
                asked = {**body, "max_results": self.page or size}
                if token:
                    asked["page_token"] = token
                page = self._call(method, API + path, asked, missing_ok)
                items = page.get(key) or []
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    raise _NotMlflow(
                        f"{method} {path} answered {key} that is not a list of objects"
                    )
                yield from items
                token = page.get("next_page_token") or None
                if token is None:
                    return
                if token in seen:  # a server that sends us in a circle
                    raise _bad(f"{self.url} repeated a page of {path}")
                seen.add(token)
        except _NotMlflow as exc:
            if probe:
                raise
            raise _bad(exc.message) from None

    def _call(
        self, method: str, path: str, body: dict[str, Any], missing_ok: bool = False
    ) -> dict[str, Any]:
        """The JSON object the server answers; {} for a 404 when ``missing_ok``."""
        import httpx

        try:
            if method == "GET":
                r = self.http.get(path, params=body)
            else:
                r = self.http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise _bad(f"cannot reach {self.url}: {short_reason(exc)}") from None
        if r.status_code == 401:  # no credentials, or ones the server does not know
            raise _bad(f"{self.url} refused {method} {path} (401): {CREDENTIALS}")
        if r.status_code == 403:  # known credentials, of a user who may not read this
            raise SourceRefusedError(
                f"{self.url} refused {method} {path} (403): the user these credentials name "
                "may not read it"
            )
        if r.status_code == 404 and missing_ok and _error_code(r) in ("ENDPOINT_NOT_FOUND", None):
            return {}
        if r.status_code != 200:
            if _error_code(r) is None and r.status_code in (404, 405, 501):
                raise _NotMlflow(f"{method} {path} answered {r.status_code}")
            raise _bad(f"{method} {path} on {self.url}: {_why(r)}")
        try:
            page = r.json()
        except ValueError:
            kind = r.headers.get("content-type", "no content type")
            raise _NotMlflow(f"{method} {path} answered {kind}, not JSON") from None
        if not isinstance(page, dict):
            raise _NotMlflow(f"{method} {path} answered JSON that is not an object")
        return page


class _NotMlflow(Exception):
    """An answer no MLflow server gives. Internal: the first listing turns it into "not an
    MLflow tracking server"; anywhere else it leaves as :func:`_bad`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, field="from")


def _error_code(r: Any) -> str | None:
    """MLflow's ``error_code`` in an error answer, None when the answer is not MLflow's."""
    try:
        body = r.json()
    except ValueError:
        return None
    code = body.get("error_code") if isinstance(body, dict) else None
    return str(code) if code else None


def _why(r: Any) -> str:
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error_code"):
        return f"{r.status_code} {body['error_code']}: {body.get('message', '')}"
    return f"{r.status_code} {r.reason_phrase}"


def _pairs(items: Any) -> list[tuple[str, Any]]:
    return [(str(i.get("key")), i.get("value")) for i in items or [] if isinstance(i, dict)]


def _whole(value: Any) -> Any:
    """An int64 field: a number, or the text of one (protobuf's JSON); anything else as it is,
    for the importer to list."""
    if isinstance(value, str) and is_whole(value.removeprefix("-"), 19):
        return int(value)
    return value


def _order(value: Any) -> int:
    return value if type(value) is int else -1
