"""The prediction server over HTTP: both protocols, the signature check, micro-batching,
hot reload, canary and shadow traffic, the prediction log and feedback, metrics, faults."""

from __future__ import annotations

import asyncio
import concurrent.futures
import struct
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

import setpoint as sp
from serving.live import COLUMNS, LiveServer, _data, _spec, models, server  # noqa: F401
from setpoint.client.serving import ServeSpec, build_app
from setpoint.core.errors import ModelNotFoundError
from setpoint.serving.deployment import Deployment, Route
from setpoint.serving.metrics import Metrics


def _infer_body(X: pd.DataFrame, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "inputs": [
            {"name": c, "shape": [len(X)], "datatype": "FP64", "data": X[c].tolist()}
            for c in X.columns
        ]
    }
    if request_id is not None:
        body["id"] = request_id
    return body


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_both_protocols_answer_what_the_model_predicts(
    server: LiveServer, models: dict[str, Any]
) -> None:
    X = models["X"]
    expected = sp.load_model("srv/churn/1").predict(X[:7])
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v2/health/live").json() == {"live": True}
        assert http.get("/v2/health/ready").status_code == 200
        meta = http.get("/v2/models/churn").json()
        assert meta["versions"] == ["1"]
        assert [i["name"] for i in meta["inputs"]] == COLUMNS
        assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
        r = http.post("/v2/models/churn/infer", json=_infer_body(X[:7], "req-1"))
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["id"] == "req-1" and out["model_version"] == "1"
        assert out["outputs"][0]["name"] == "predict" and out["outputs"][0]["shape"] == [7]
        assert out["outputs"][0]["data"] == expected.tolist()
        assert r.headers["x-model-version"] == "1"
        # an empty id is no id: the answer names none, the header the one the log keeps
        r = http.post("/v2/models/churn/infer", json=_infer_body(X[:1], ""))
        assert r.status_code == 200 and r.json().get("id") is None
        assert len(r.headers["x-request-id"]) == 32
        # one 2-d tensor of the signature's columns works too, and predict_proba on request
        r = http.post(
            "/v2/models/churn/infer",
            json={
                "inputs": [
                    {
                        "name": "x",
                        "shape": [7, 4],
                        "datatype": "FP64",
                        "data": X[:7].to_numpy().tolist(),
                    }
                ],
                "outputs": [{"name": "predict_proba"}],
            },
        )
        proba = r.json()["outputs"][0]
        assert proba["name"] == "predict_proba" and proba["shape"] == [7, 2]
        # MLflow's shapes
        split = {"dataframe_split": {"columns": COLUMNS, "data": X[:7].to_numpy().tolist()}}
        records = {"dataframe_records": X[:7].to_dict("records")}
        inputs = {"inputs": {c: X[c][:7].tolist() for c in COLUMNS}}
        instances = {"instances": X[:7].to_dict("records")}
        for body in (split, records, inputs, instances):
            r = http.post("/invocations", json=body)
            assert r.status_code == 200, r.text
            assert r.json() == {"predictions": expected.tolist()}
        r = http.post(
            "/invocations",
            content=X[:7].to_csv(index=False),
            headers={"content-type": "text/csv"},
        )
        assert r.json() == {"predictions": expected.tolist()}


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_bad_requests_get_4xx_naming_the_field(server: LiveServer, models: dict[str, Any]) -> None:
    X = models["X"]
    with httpx.Client(base_url=server.url) as http:
        r = http.post("/v2/models/churn/infer", content=b"{not json")
        assert r.status_code == 400 and "not JSON" in r.json()["error"]
        r = http.post("/invocations", content=b"a,b", headers={"content-type": "text/plain"})
        assert r.status_code == 415
        # MLflow's inference params were dropped: the prediction was made without them
        split = {"columns": list(X.columns), "data": X[:2].to_numpy().tolist()}
        r = http.post("/invocations", json={"dataframe_split": split, "params": {"k": 10}})
        assert r.status_code == 400 and "params are not passed" in r.json()["error"], r.text
        assert r.json()["field"] == "params"
        r = http.post("/invocations", json={"dataframe_split": split, "params": {}})
        assert r.status_code == 200  # none given: nothing to refuse
        r = http.post("/v2/models/nope/infer", json=_infer_body(X[:2]))
        assert r.status_code == 404 and "unknown model 'nope'" in r.json()["error"]
        body = _infer_body(X[:2])
        body["inputs"] = [
            *body["inputs"][:3],
            {"name": "e", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
        ]
        r = http.post("/v2/models/churn/infer", json=body)
        assert r.status_code == 422
        assert r.json()["fields"] == {"e": "not a column of the model", "d": "missing"}
        body = _infer_body(X[:2])
        body["inputs"][0]["data"] = ["x", "y"]
        body["inputs"][0]["datatype"] = "BYTES"
        r = http.post("/v2/models/churn/infer", json=body)
        assert r.status_code == 422 and r.json()["fields"]["a"].startswith("expected numbers")
        body = _infer_body(X[:2])
        body["inputs"][1]["shape"] = [3]
        r = http.post("/v2/models/churn/infer", json=body)
        assert r.status_code == 422 and "b" in r.json()["fields"]
        r = http.post(
            "/invocations",
            json={"dataframe_split": {"columns": COLUMNS, "data": [[1.0, None, 2.0, 3.0]]}},
        )
        assert r.status_code == 422 and "NaN, missing or infinite" in r.json()["fields"]["b"]
        r = http.post("/invocations", json={"instances": [{"a": 1}], "inputs": {}})
        assert r.status_code == 400
        big = b"x" * (16 * 1024 * 1024 + 1)
        r = http.post("/invocations", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
        # outputs and the binary-data flags are checked, not ignored or taken as truthy
        for body_change, field in (
            ({"outputs": "predict"}, "outputs"),
            ({"outputs": [{"nam": "predict"}]}, "outputs"),
            ({"parameters": {"binary_data_output": "no"}}, "parameters.binary_data_output"),
            (
                {"outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]},
                "outputs.predict.parameters.binary_data",
            ),
        ):
            r = http.post("/v2/models/churn/infer", json={**_infer_body(X[:1]), **body_change})
            assert r.status_code == 400 and r.json()["field"] == field, r.text
        for path in ("/invocations", "/v2/models/churn/infer", "/feedback"):
            r = http.get(path)
            assert r.status_code == 405 and r.headers["allow"] == "POST", path
        # without tokens, pages of other sites may not post (fake /feedback labels would
        # poison the monitors) nor read through a name pointed at 127.0.0.1
        evil = {"origin": "http://evil.example", "content-type": "text/plain"}
        r = http.post("/feedback", content=b'{"items": []}', headers=evil)
        assert r.status_code == 403 and "pages of another site" in r.json()["error"]
        r = http.get("/v2/models/churn", headers={"host": "rebind.evil.example"})
        assert r.status_code == 403 and "loopback names only" in r.json()["error"]
        own = {"origin": server.url}
        # the server is still fine, for programs (no Origin) and its own origin alike
        assert http.post("/v2/models/churn/infer", json=_infer_body(X[:1])).status_code == 200
        r = http.post("/v2/models/churn/infer", json=_infer_body(X[:1]), headers=own)
        assert r.status_code == 200


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_concurrent_requests_are_batched_into_fewer_predict_calls(
    server: LiveServer, models: dict[str, Any]
) -> None:
    X = models["X"]
    bodies = [_infer_body(X[i : i + 1], f"r{i}") for i in range(200)]
    with httpx.Client(base_url=server.url) as http:
        single = [http.post("/v2/models/churn/infer", json=b).json() for b in bodies[:20]]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:

        def send(body: dict[str, Any]) -> Any:
            with httpx.Client(base_url=server.url) as h:
                return h.post("/v2/models/churn/infer", json=body).json()

        answers = list(pool.map(send, bodies))
    expected = sp.load_model("srv/churn/1").predict(X[:200]).tolist()
    assert [a["outputs"][0]["data"][0] for a in answers] == expected
    assert [a["id"] for a in answers] == [f"r{i}" for i in range(200)]
    assert [s["outputs"][0]["data"][0] for s in single] == expected[:20]
    metrics = httpx.get(f"{server.url}/metrics").text
    calls = _metric(metrics, "setpoint_batch_rows_count")
    rows = _metric(metrics, "setpoint_batch_rows_sum")
    assert rows == 220 and calls < 220  # some requests shared a predict call


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_an_alias_moved_under_load_switches_without_failing_a_request(
    server: LiveServer, models: dict[str, Any]
) -> None:
    X = models["X"]
    stop = threading.Event()
    seen: list[tuple[int, str]] = []

    def load() -> None:
        with httpx.Client(base_url=server.url) as http:
            while not stop.is_set():
                r = http.post("/v2/models/churn/infer", json=_infer_body(X[:3]))
                seen.append((r.status_code, r.headers.get("x-model-version", "")))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    sp.set_alias("churn", "champion", 2, project="srv")
    deadline = time.monotonic() + 20
    while not seen or seen[-1][1] != "2":
        assert time.monotonic() < deadline, "the server never switched to version 2"
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert {status for status, _ in seen} == {200}
    versions = [v for _, v in seen]
    assert versions[0] == "1" and versions[-1] == "2"
    meta = httpx.get(f"{server.url}/v2/models/churn").json()
    assert meta["versions"] == ["2"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_canary_by_request_id_and_shadow_logged_never_returned(
    client: Any, models: dict[str, Any], tmp_path: Path
) -> None:
    X = models["X"]
    shadow_only = build_app(_spec(shadow="challenger"), client, str(tmp_path / "cache"))
    with LiveServer(shadow_only) as live, httpx.Client(base_url=live.url) as http:
        # the shadow's version never answers, so the metadata does not offer it
        assert http.get("/v2/models/churn").json()["versions"] == ["1"]
        assert http.get("/v2/models/churn/versions/2").status_code == 404
    app = build_app(
        _spec(canary="challenger", canary_percent=30.0, shadow="challenger"),
        client,
        str(tmp_path / "cache"),
    )
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as http:
        versions = {}
        for i in range(100):
            r = http.post("/v2/models/churn/infer", json=_infer_body(X[i : i + 1], f"id-{i}"))
            versions[f"id-{i}"] = r.json()["model_version"]
        again = {
            f"id-{i}": http.post(
                "/v2/models/churn/infer", json=_infer_body(X[i : i + 1], f"id-{i}")
            ).json()["model_version"]
            for i in range(100)
        }
        assert again == versions  # the same id goes the same way
        share = sum(v == "2" for v in versions.values())
        assert 15 <= share <= 45  # about 30 %
        r = http.post(
            "/feedback",
            json={
                "feedback": [{"request_id": "id-3", "label": 1}, {"request_id": "id-4", "label": 0}]
            },
        )
        assert r.status_code == 202
        for bad in (
            {"request_id": "", "label": 1},
            {"request_id": "a\x00b", "label": 1},
            {"request_id": "x" * 300, "label": 1},
            {"request_id": "id-5", "label": None},
            {"request_id": "id-5", "label": "y" * 5000},
        ):
            r = http.post("/feedback", json={"feedback": [{"request_id": "id-5", "label": 1}, bad]})
            assert r.status_code == 400, bad  # none of the batch is taken
            if "request_id" in bad and bad["label"] == 1:  # named as the body names it
                assert r.json()["field"] == "request_id", r.text
        # the items alone, as a list: taken (it was "feedback[0] needs a string 'request_id'")
        r = http.post("/feedback", json=[{"request_id": "never-served", "label": 1}])
        assert r.status_code == 202 and r.json() == {"accepted": 1}
        metrics = http.get("/metrics").text
        assert 'role="shadow"' in metrics and 'role="canary"' in metrics
    log = sp.prediction_log("churn", project="srv")
    primary = log[log["role"] != "shadow"]
    shadow = log[log["role"] == "shadow"]
    assert len(primary) == 200 and len(shadow) == 200
    assert set(shadow["model_version"]) == {2}
    assert list(log.columns[:6]) == [
        "request_id",
        "row",
        "time",
        "model_version",
        "role",
        "latency_ms",
    ]
    assert {"input.a", "input.d", "prediction"} <= set(log.columns)
    labelled = log.dropna(subset=["label"]).drop_duplicates("request_id")
    assert sorted(zip(labelled["request_id"], labelled["label"], strict=True)) == [
        ("id-3", 1),
        ("id-4", 0),
    ]
    files = client.list_prediction_logs("churn", "srv", "predictions")
    assert (
        files
        and sum(f.rows for f in files) == 400
        and files[0].day == time.strftime("%Y-%m-%d", time.gmtime())
    )


@pytest.mark.parametrize("mode", ["sqlite", "remote"], indirect=True)
def test_a_removed_canary_alias_sends_its_traffic_back_to_the_primary(
    client: Any, models: dict[str, Any], tmp_path: Path
) -> None:
    """Removing the canary's (and shadow's) alias was taken for the store being away: the
    removed version kept answering its share and being shadowed until a restart."""
    X = models["X"]
    spec = _spec(canary="challenger", canary_percent=30.0, shadow="challenger")
    ids = [f"id-{i}" for i in range(40)]

    def answered(http: httpx.Client) -> set[str]:
        return {
            http.post("/v2/models/churn/infer", json=_infer_body(X[:1], i)).json()["model_version"]
            for i in ids
        }

    def wait_for(http: httpx.Client, done: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while not done(meta := http.get("/v2/models/churn").json()):
            assert time.monotonic() < deadline, meta
            time.sleep(0.05)
        return meta

    with (
        LiveServer(build_app(spec, client, str(tmp_path / "cache"))) as live,
        httpx.Client(base_url=live.url) as http,
    ):
        assert answered(http) == {"1", "2"}
        shadowed = len(ids)
        sp.set_alias("churn", "challenger", None, project="srv")
        # the canary and the shadow are retired one after the other: wait for both
        meta = wait_for(http, lambda m: m["parameters"]["aliases"].keys() == {"primary"})
        assert meta["parameters"]["aliases"] == {"primary": "champion=1"}
        assert meta["versions"] == ["1"]
        why = meta["parameters"]["not_ready"]["challenger"]
        assert "no alias 'challenger'" in why and "its share goes to the primary" in why
        assert answered(http) == {"1"}  # every id, the canary's too, and none shadowed
        assert (
            http.post("/v2/models/churn/versions/2/infer", json=_infer_body(X[:1])).status_code
            == 404
        )
        assert http.get("/v2/health/ready").status_code == 200  # the primary serves
        assert _metric(http.get("/metrics").text, "setpoint_reloads_total") >= 2
        # set again, the alias is picked up again without a restart
        sp.set_alias("churn", "challenger", 2, project="srv")
        meta = wait_for(
            http, lambda m: m["parameters"]["aliases"].keys() == {"primary", "canary", "shadow"}
        )
        assert meta["parameters"]["not_ready"] == {} and meta["versions"] == ["1", "2"]
        assert answered(http) == {"1", "2"}
        shadowed += len(ids)
    log = sp.prediction_log("churn", project="srv")
    assert (log["role"] == "shadow").sum() == shadowed


def test_an_alias_gone_is_not_an_outage() -> None:
    """The store saying an alias (or model) no longer exists retires a canary or shadow and
    is reported for the primary, which keeps answering; a store that cannot be reached
    changes nothing."""
    aliases = {"champion": 1, "challenger": 2}
    away: list[bool] = [False]
    events: list[dict[str, Any]] = []

    def resolve(alias: str) -> Any:
        if away[0]:
            raise ConnectionError("cannot reach the setpoint server")
        if alias not in aliases:
            raise ModelNotFoundError(f"model srv/churn has no alias {alias!r}", field="alias")
        return SimpleNamespace(version=aliases[alias])

    def load(version: Any) -> Any:
        return SimpleNamespace(signature=None, has_proba=False, predict=lambda d: d)

    routes = [
        Route(role="primary", alias="champion"),
        Route(role="canary", alias="challenger", percent=50.0),
        Route(role="shadow", alias="challenger"),
    ]
    metrics = Metrics("churn")
    d = Deployment("churn", "churn", routes, resolve, load, metrics, poll=0, report=events.append)
    ids = [f"r{i}" for i in range(50)]

    def serving() -> set[str]:
        return {d.route(i).number for i in ids}

    async def scenario() -> None:
        await d.open()
        try:
            away[0] = True
            assert await d.refresh() == []
            assert serving() == {"1", "2"} and d.shadow() is not None
            assert d.not_ready["challenger"].startswith("cannot resolve challenger")
            away[0] = False
            del aliases["challenger"]
            assert await d.refresh() == ["challenger: 2 -> none", "challenger: 2 -> none"]
            assert serving() == {"1"} and d.shadow() is None and d.versions() == ["1"]
            assert "the shadow is retired" in d.not_ready["challenger"]
            assert [(e["event"], e["role"]) for e in events] == [
                ("alias_removed", "canary"),
                ("alias_removed", "shadow"),
            ]
            del aliases["champion"]
            for _ in range(2):
                assert await d.refresh() == []
            assert serving() == {"1"}  # the primary keeps answering with what it has
            assert "version 1 still answers" in d.not_ready["champion"]
            assert metrics.reload_failures == 3 + 1  # the outage for each route; the alias once
            assert [(e["event"], e["role"]) for e in events[2:]] == [("alias_removed", "primary")]
            aliases.update(champion=1, challenger=2)
            assert await d.refresh() == ["challenger: none -> 2", "challenger: none -> 2"]
            assert serving() == {"1", "2"} and d.shadow() is not None and d.not_ready == {}
            assert {e["event"] for e in events[3:]} == {"alias_back"}
        finally:
            await d.close()

    asyncio.run(scenario())


def test_prediction_log_records_name_real_days_and_times(client: Any) -> None:
    from setpoint.core.errors import InvalidArgumentError

    def record(day: str, first: int = 1, last: int = 1) -> None:
        client.record_prediction_log("d", "predictions", day, "0" * 64, 1, first, last, "p")

    for day in ("2026-02-30", "2026-13-01", "\uff12026-11-23", "2026-11-23\n", "2026-1-23"):
        with pytest.raises(InvalidArgumentError, match="day must be a UTC day"):
            record(day)
    with pytest.raises(InvalidArgumentError, match="first_at must not be after last_at"):
        record("2026-11-23", first=5, last=4)
    with pytest.raises(InvalidArgumentError, match="until must be a UTC day"):
        client.list_prediction_logs("d", "p", None, None, "2026-11-31")
    assert client.list_prediction_logs("d", "p", None, "2024-02-29", None) == []


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_model_failing_on_some_rows_fails_only_that_request(client: Any, tmp_path: Path) -> None:
    X, _y = _data()

    class Picky:
        def predict(self, frame: Any) -> Any:
            if (frame["a"] > 100).any():
                raise ValueError("a is too large")
            return (frame["a"] > 0).astype(int).to_numpy()

    sp.log_model(Picky(), "picky", project="srv", input_example=X[:5], flavor="custom")
    sp.set_alias("picky", "champion", 1, project="srv")
    spec = ServeSpec(model="picky", project="srv", poll=0, log=False, max_wait_ms=50)
    with LiveServer(build_app(spec, client, str(tmp_path / "cache"))) as live:
        bad = X[:1].assign(a=1000.0)

        def send(frame: pd.DataFrame, rid: str) -> httpx.Response:
            with httpx.Client(base_url=live.url) as h:
                return h.post("/v2/models/picky/infer", json=_infer_body(frame, rid))

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [
                pool.submit(send, bad if i == 3 else X[i : i + 1], f"p{i}") for i in range(8)
            ]
            answers = [f.result() for f in futures]
        assert [a.status_code for a in answers] == [200, 200, 200, 500, 200, 200, 200, 200]
        failed = answers[3].json()
        assert failed["id"] == "p3" and "a is too large" in failed["error"]
        assert httpx.get(f"{live.url}/v2/health/ready").status_code == 200


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_new_version_that_cannot_load_keeps_the_old_one_serving(
    server: LiveServer, models: dict[str, Any], local: Any
) -> None:
    X = models["X"]
    from sklearn.linear_model import LogisticRegression

    X3, y3 = _data(seed=3)
    v3 = sp.log_model(
        LogisticRegression(C=0.1).fit(X3, y3), "churn", project="srv", input_example=X3[:5]
    )
    # the store loses the new version's files
    for f in local.list_model_files("churn", v3.version, "srv"):
        path = local.local_blob_path(f.digest)
        if path is not None:
            Path(path).unlink()
    sp.set_alias("churn", "champion", v3.version, project="srv")
    with httpx.Client(base_url=server.url) as http:
        deadline = time.monotonic() + 10
        while True:
            r = http.get(f"/v2/models/churn/versions/{v3.version}/ready")
            if r.status_code == 503:
                break
            assert time.monotonic() < deadline, "the failed reload was never reported"
            time.sleep(0.1)
        assert r.json()["ready"] is False and r.json()["error"]
        answer = http.post("/v2/models/churn/infer", json=_infer_body(X[:2]))
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"
        assert http.get("/v2/health/ready").status_code == 200


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_tokens_guard_everything_but_health(
    client: Any, models: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SETPOINT_SERVE_TOKENS", "s3cret,other")
    with LiveServer(build_app(_spec(log=False), client, str(tmp_path / "c"))) as live:
        with httpx.Client(base_url=live.url) as http:
            assert http.get("/v2/health/ready").status_code == 200
            body = _infer_body(models["X"][:1])
            assert http.post("/v2/models/churn/infer", json=body).status_code == 401
            ok = http.post(
                "/v2/models/churn/infer", json=body, headers={"authorization": "Bearer other"}
            )
            assert ok.status_code == 200
            assert http.get("/metrics").status_code == 401
            # what a scrape with a bearer token gets (docs/serving.md)
            scraped = http.get("/metrics", headers={"authorization": "Bearer s3cret"})
            assert scraped.status_code == 200 and "setpoint_ready" in scraped.text


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_third_party_open_inference_protocol_client_works(
    server: LiveServer, models: dict[str, Any]
) -> None:
    tritonhttp = pytest.importorskip("tritonclient.http")
    X = models["X"]
    expected = sp.load_model("srv/churn/1").predict(X[:5])
    triton = tritonhttp.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("churn")
    meta = triton.get_model_metadata("churn")
    assert [i["name"] for i in meta["inputs"]] == COLUMNS
    for binary in (True, False):  # tritonclient's default is the binary extension
        inputs = []
        for c in COLUMNS:
            tensor = tritonhttp.InferInput(c, [5], "FP64")
            tensor.set_data_from_numpy(X[c][:5].to_numpy(), binary_data=binary)
            inputs.append(tensor)
        outputs = [
            tritonhttp.InferRequestedOutput("predict", binary_data=binary),
            tritonhttp.InferRequestedOutput("predict_proba", binary_data=binary),
        ]
        result = triton.infer("churn", inputs, outputs=outputs, request_id=f"t-{binary}")
        assert result.get_response()["id"] == f"t-{binary}"
        assert result.as_numpy("predict").tolist() == expected.tolist()
        assert result.as_numpy("predict_proba").shape == (5, 2)
    triton.close()


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_string_answers_narrow_integers_and_odd_ids(client: Any, tmp_path: Path) -> None:
    import numpy as np

    class Labeler:
        def predict(self, frame: Any) -> Any:
            return np.where(frame["a"].to_numpy() > 0, "yes", "no")

    example = pd.DataFrame(
        {"a": [0.5, -1.0], "n": np.array([1, 2], dtype=np.int8), "zip": ["02139", "10001"]}
    )
    sp.log_model(Labeler(), "labeler", project="srv", input_example=example, flavor="custom")
    sp.set_alias("labeler", "champion", 1, project="srv")
    spec = ServeSpec(model="labeler", project="srv", poll=0, log=False)
    with (
        LiveServer(build_app(spec, client, str(tmp_path / "cache"))) as live,
        httpx.Client(base_url=live.url) as http,
    ):
        ok = http.post(
            "/invocations", json={"dataframe_records": [{"a": 1.0, "n": 3, "zip": "02139"}]}
        )
        assert ok.status_code == 200 and ok.json() == {"predictions": ["yes"]}
        csv = http.post(
            "/invocations", content="a,n,zip\n-2.0,1,02139\n", headers={"content-type": "text/csv"}
        )
        assert csv.status_code == 200 and csv.json() == {"predictions": ["no"]}
        wide = http.post(
            "/invocations", json={"dataframe_records": [{"a": 1.0, "n": 300, "zip": "x"}]}
        )
        assert wide.status_code == 422 and "-128..127" in wide.json()["fields"]["n"]
        # rows mixing numbers and text: each column typed on its own, as records are
        split = {"columns": ["a", "n", "zip"], "data": [[1.0, 3, "02139"], [-1.0, 4, "x"]]}
        r = http.post("/invocations", json={"dataframe_split": split})
        assert r.status_code == 200 and r.json() == {"predictions": ["yes", "no"]}
        split["data"] = [[1.0, 3, "02139"], [-1.0, "four", "x"]]  # only n is wrong
        r = http.post("/invocations", json={"dataframe_split": split})
        assert r.status_code == 422 and set(r.json()["fields"]) == {"n"}
        # a tensor's values must fit its datatype: an INT8 of 300 is not wrapped to 44
        tensor = {"name": "n", "shape": [1], "datatype": "INT8", "data": [300]}
        inputs = [
            {"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]},
            tensor,
            {"name": "zip", "shape": [1], "datatype": "BYTES", "data": ["x"]},
        ]
        r = http.post("/v2/models/labeler/infer", json={"inputs": inputs})
        assert r.status_code == 422 and r.json()["fields"] == {"n": "outside INT8"}
        # a name given twice: refused, not the last one winning
        tensor["data"] = [3]
        r = http.post("/v2/models/labeler/infer", json={"inputs": [*inputs, inputs[0]]})
        assert r.status_code == 422 and r.json()["fields"] == {"a": "given twice"}
        split = {"columns": ["a", "n", "zip", "a"], "data": [[1.0, 3, "x", 2.0]]}
        r = http.post("/invocations", json={"dataframe_split": split})
        assert r.status_code == 422 and r.json()["fields"] == {"a": "given twice"}
        csv = http.post(
            "/invocations", content="a,n,zip,a\n1,1,x,2\n", headers={"content-type": "text/csv"}
        )
        assert csv.status_code == 422 and csv.json()["fields"] == {"a": "given twice"}
        nested = http.post(
            "/invocations",
            json={"dataframe_split": {"columns": ["a", "n", "zip"], "data": [[1, [2, 3], "x"]]}},
        )
        assert nested.status_code == 422
        odd = http.post(
            "/invocations",
            json={"dataframe_records": [{"a": 1.0, "n": 1, "zip": "x"}]},
            headers={"x-request-id": "a\tb"},
        )
        assert odd.status_code == 400 and "printable ASCII" in odd.json()["error"]
        assert http.get("/v2/health/ready").status_code == 200


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_binary_text_elements_are_whole_utf8_or_refused(client: Any, tmp_path: Path) -> None:
    """A BYTES element declaring more bytes than its binary data holds was cut short, and
    bytes that are not UTF-8 were replaced by U+FFFD, both predicted without a word."""

    class Echo:
        def predict(self, frame: Any) -> Any:
            return frame["city"].to_numpy()

    example = pd.DataFrame({"amount": [1.0, 2.0], "city": ["x", "y"]})
    sp.log_model(Echo(), "cities", project="srv", input_example=example, flavor="custom")
    sp.set_alias("cities", "champion", 1, project="srv")
    spec = ServeSpec(model="cities", project="srv", poll=0, log=False)

    def infer(http: httpx.Client, *cities: bytes) -> httpx.Response:
        data = b"".join(struct.pack("<I", len(c)) + c for c in cities)
        return post(http, len(cities), data)

    def post(http: httpx.Client, rows: int, data: bytes) -> httpx.Response:
        amount = np.arange(rows, dtype=np.float64).tobytes()
        head = orjson.dumps(
            {
                "inputs": [
                    _binary_input("amount", rows, "FP64", len(amount)),
                    _binary_input("city", rows, "BYTES", len(data)),
                ]
            }
        )
        return http.post(
            "/v2/models/cities/infer",
            content=head + amount + data,
            headers={
                "inference-header-content-length": str(len(head)),
                "content-type": "application/octet-stream",
            },
        )

    with (
        LiveServer(build_app(spec, client, str(tmp_path / "cache"))) as live,
        httpx.Client(base_url=live.url) as http,
    ):
        r = infer(http, "Zürich".encode(), b"")
        assert r.status_code == 200 and r.json()["outputs"][0]["data"] == ["Zürich", ""]
        # a length running past the data: 400 naming the input, as a cut-short length does
        for data in (struct.pack("<I", 100) + b"xy", struct.pack("<I", 1) + b"x\x00"):
            r = post(http, 1, data)
            assert r.status_code == 400 and r.json()["field"] == "city", r.text
            assert "input 'city'" in r.json()["error"]
        r = post(http, 1, struct.pack("<I", 3) + b"xy")
        assert "BYTES element 0 declares 3 bytes, its binary data has 2 left" in r.text
        # bytes that are not UTF-8: refused as a bad value of that input
        for bad in (b"\xff\xfe", "Zürich".encode("latin-1")):
            r = infer(http, b"ok", bad)
            assert r.status_code == 422 and r.json()["fields"] == {"city": "not UTF-8 text"}
            assert "BYTES element 1 is not UTF-8" in r.json()["error"]
        assert http.get("/v2/health/ready").status_code == 200


def _binary_input(name: str, rows: int, datatype: str, size: int) -> dict[str, Any]:
    return {
        "name": name,
        "shape": [rows],
        "datatype": datatype,
        "parameters": {"binary_data_size": size},
    }


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_split_rows_keep_flags_and_whole_numbers(client: Any, tmp_path: Path) -> None:
    """Rows of numbers and flags were made one float table: a bool column was refused
    ("expected true or false, got numbers"), a true in a number column taken as 1, and an
    int64 of 2**63 wrapped to -2**63 (or 2**53 + 1 rounded) without an error."""
    import numpy as np

    class Echo:
        def predict(self, frame: Any) -> Any:
            return np.asarray([f"{r.x}|{r.flag}|{r.c}" for r in frame.itertuples(index=False)])

    example = pd.DataFrame(
        {"x": [0.5, 1.0], "flag": [True, False], "c": np.array([1, 2], dtype=np.int64)}
    )
    sp.log_model(Echo(), "echo", project="srv", input_example=example, flavor="custom")
    sp.set_alias("echo", "champion", 1, project="srv")
    spec = ServeSpec(model="echo", project="srv", poll=0, log=False)
    with (
        LiveServer(build_app(spec, client, str(tmp_path / "cache"))) as live,
        httpx.Client(base_url=live.url) as http,
    ):
        split = {"columns": ["x", "flag", "c"], "data": [[0.1, True, 2**53 + 1], [1.5, False, 3]]}
        for body in ({"dataframe_split": split}, {"instances": split["data"]}):
            r = http.post("/invocations", json=body)
            assert r.status_code == 200, r.text
            assert r.json() == {"predictions": [f"0.1|True|{2**53 + 1}", "1.5|False|3"]}
        for row, field in (([True, True, 1], "x"), ([0.1, True, 2**63], "c")):
            r = http.post("/invocations", json={"instances": [row]})
            assert r.status_code == 422 and set(r.json()["fields"]) == {field}, r.text
        for empty in (
            {"content": "x,flag,c\n", "headers": {"content-type": "text/csv"}},
            {"json": {"dataframe_split": {"columns": ["x", "flag", "c"], "data": []}}},
        ):
            r = http.post("/invocations", **empty)  # type: ignore[arg-type]
            assert r.status_code == 422 and "no rows" in r.json()["error"], r.text


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_a_tensor_model_takes_a_table_as_mlflow_does(client: Any, tmp_path: Path) -> None:
    """Logged with a numpy example, a model refused CSV, dataframe_split with columns and
    records ("this model takes one tensor"); MLflow turns the table into one array."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    model = LinearRegression().fit(X, X @ [1.0, 2.0, 3.0])
    sp.log_model(model, "reg", project="srv", input_example=X[:5])
    sp.set_alias("reg", "champion", 1, project="srv")
    spec = ServeSpec(model="reg", project="srv", poll=0, log=False)
    expected = pytest.approx(model.predict(X[:2]).tolist())
    rows = X[:2].tolist()
    with (
        LiveServer(build_app(spec, client, str(tmp_path / "cache"))) as live,
        httpx.Client(base_url=live.url) as http,
    ):
        csv = "a,b,c\n" + "\n".join(",".join(repr(v) for v in r) for r in rows) + "\n"
        for request in (
            {"content": csv, "headers": {"content-type": "text/csv"}},
            {"json": {"dataframe_split": {"columns": ["a", "b", "c"], "data": rows}}},
            {"json": {"dataframe_records": [dict(zip("abc", r, strict=True)) for r in rows]}},
            {"json": {"instances": rows}},
        ):
            r = http.post("/invocations", **request)  # type: ignore[arg-type]
            assert r.status_code == 200, r.text
            assert r.json()["predictions"] == expected
        narrow = {"dataframe_split": {"columns": ["a", "b"], "data": [r[:2] for r in rows]}}
        r = http.post("/invocations", json=narrow)
        assert r.status_code == 422 and "shape" in r.json()["error"]


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_logged_scores_give_monitors_a_roc_auc(
    client: Any, models: dict[str, Any], tmp_path: Path
) -> None:
    from sklearn.metrics import roc_auc_score

    X, y = _data(400, seed=5)
    reference = sp.log_dataset(_data()[0], "features", project="srv")
    spec = ServeSpec(model="churn", project="srv", poll=0, log_interval=0.2, log_scores=True)
    with (
        LiveServer(build_app(spec, client, str(tmp_path / "cache"))) as live,
        httpx.Client(base_url=live.url) as http,
    ):
        for i in range(len(X)):
            r = http.post("/v2/models/churn/infer", json=_infer_body(X[i : i + 1], f"s{i}"))
            assert [o["name"] for o in r.json()["outputs"]] == ["predict"]  # the score is not sent
        http.post(
            "/feedback",
            json={"feedback": [{"request_id": f"s{i}", "label": int(v)} for i, v in enumerate(y)]},
        )
        deadline = time.monotonic() + 10
        while len(sp.prediction_log("churn", project="srv").dropna(subset=["label"])) < len(X):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    log = sp.prediction_log("churn", project="srv")
    proba = sp.load_model("srv/churn/1").predict_proba(X)[:, 1]
    assert np.allclose(
        log.sort_values("request_id", key=lambda s: s.str[1:].astype(int))["score"], proba
    )
    sp.add_monitor(
        "auc", deployment="churn", reference=reference.ref, window="400rows", project="srv"
    )
    window = sp.run_monitor("auc", project="srv")["computed"][0]
    assert abs(window.result["metrics"]["roc_auc"] - roc_auc_score(y, proba)) < 1e-12
