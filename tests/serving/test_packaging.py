"""`setpoint deploy docker|k8s`: the manifests are valid against the Kubernetes API schema
(every field known, of its type, required ones present, per the kubernetes client's models)
and probe the server's health endpoints; the Dockerfile pins the model's libraries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import setpoint as sp

k8s = pytest.importorskip("kubernetes.client")

KINDS = {
    ("apps/v1", "Deployment"): "V1Deployment",
    ("v1", "Service"): "V1Service",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
    ("v1", "ConfigMap"): "V1ConfigMap",
}
PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


def _check(value: Any, type_name: str, path: str) -> None:
    """``value`` fits the model type ``type_name``: no unknown field, every type right."""
    if type_name in PRIMITIVES:
        assert isinstance(value, PRIMITIVES[type_name]), f"{path}: expected {type_name}"
        return
    if type_name == "datetime":
        return
    if type_name.startswith("list["):
        assert isinstance(value, list), f"{path}: expected a list"
        for i, item in enumerate(value):
            _check(item, type_name[5:-1], f"{path}[{i}]")
        return
    if type_name.startswith("dict("):
        inner = type_name[5:-1].split(", ", 1)[1]
        assert isinstance(value, dict), f"{path}: expected a mapping"
        for key, item in value.items():
            _check(item, inner, f"{path}.{key}")
        return
    model = getattr(k8s, type_name)
    assert isinstance(value, dict), f"{path}: expected a {type_name} object"
    fields = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, item in value.items():
        assert key in fields, f"{path}.{key} is not a field of {type_name}"
        _check(item, model.openapi_types[fields[key]], f"{path}.{key}")


def _valid(doc: dict[str, Any]) -> Any:
    type_name = KINDS[(doc["apiVersion"], doc["kind"])]
    _check(doc, type_name, doc["kind"])
    api = k8s.ApiClient()
    # the client's own deserializer checks required fields (it raises on a missing one)
    return api._ApiClient__deserialize(doc, type_name)


@pytest.fixture
def fraud(client: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])
    v = sp.log_model(
        LogisticRegression().fit(X, X["a"] > 0), "fraud-detector", project="pk", input_example=X
    )
    sp.set_alias("fraud-detector", "champion", v.version, project="pk")
    return v


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_k8s_manifests_are_valid_and_probe_the_health_endpoints(
    fraud: Any, tmp_path: Path, capsys: Any
) -> None:
    from setpoint.cli.main import main

    out = tmp_path / "k8s"
    main(
        [
            "deploy",
            "k8s",
            "pk/fraud-detector@champion",
            "-o",
            str(out),
            "--image",
            "reg.local/fraud:1",
            "--namespace",
            "ml",
        ]
    )
    files = sorted(p.name for p in out.iterdir())
    assert files == ["configmap.yaml", "deployment.yaml", "hpa.yaml", "service.yaml"]
    docs = {f: yaml.safe_load((out / f).read_text()) for f in files}
    objects = {f: _valid(d) for f, d in docs.items()}
    deployment = objects["deployment.yaml"]
    container = deployment.spec.template.spec.containers[0]
    assert container.image == "reg.local/fraud:1"
    assert container.readiness_probe.http_get.path == "/v2/health/ready"
    assert container.liveness_probe.http_get.path == "/v2/health/live"
    assert container.args[:3] == ["setpoint", "serve", "pk/fraud-detector@champion"]
    assert "0.0.0.0" in container.args
    assert {e.secret_ref.name for e in container.env_from if e.secret_ref} == {
        "fraud-detector-secrets"
    }
    assert {e.config_map_ref.name for e in container.env_from if e.config_map_ref} == {
        "fraud-detector-config"
    }
    assert deployment.metadata.namespace == "ml"
    labels = deployment.spec.template.metadata.labels
    assert deployment.spec.selector.match_labels.items() <= labels.items()
    service = objects["service.yaml"]
    assert service.spec.selector == deployment.spec.selector.match_labels
    hpa = objects["hpa.yaml"]
    assert hpa.spec.scale_target_ref.name == deployment.metadata.name
    assert objects["configmap.yaml"].data["SETPOINT_URL"].startswith("http")
    # the pods run with tokens, so /metrics takes one: no annotation invites a scrape that
    # sends none (Prometheus got 401 each time); the docs' ServiceMonitor sends one
    assert not any("prometheus.io" in (out / f).read_text() for f in files)
    assert deployment.spec.template.metadata.annotations is None
    (monitor,) = [
        d
        for d in yaml.safe_load_all(
            "\n---\n".join(re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S))
        )
        if d.get("kind") == "ServiceMonitor"
    ]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service.metadata.labels.items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p.name for p in service.spec.ports}
    assert endpoint["path"] == "/metrics" and endpoint["authorization"]["type"] == "Bearer"
    assert (
        "kubectl create secret generic fraud-detector-secrets"
        in (out / "deployment.yaml").read_text()
    )
    # the validator itself catches a field Kubernetes does not know
    docs["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]["healthCheck"] = {}
    with pytest.raises(AssertionError, match="healthCheck is not a field of V1Container"):
        _valid(docs["deployment.yaml"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["deploy", "k8s", "pk/fraud-detector@champion", "-o", str(out)])
    assert exit_.value.code == 1 and "--force overwrites" in capsys.readouterr().err
    direct = tmp_path / "direct"
    main(
        [
            "deploy", "k8s", "pk/fraud-detector@champion", "-o", str(direct),
            "--database-url", "postgresql+psycopg://setpoint@db/setpoint",
            "--artifacts-url", "s3://models/setpoint",
        ]
    )  # fmt: skip
    config = _valid(yaml.safe_load((direct / "configmap.yaml").read_text()))
    assert config.data["SETPOINT_ARTIFACTS_URL"] == "s3://models/setpoint"
    assert "SETPOINT_URL" not in config.data
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "deploy",
                "k8s",
                "pk/fraud-detector@champion",
                "-o",
                str(tmp_path / "x"),
                "--database-url",
                "sqlite:///x",
            ]
        )
    assert exit_.value.code == 2


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_k8s_refuses_names_and_numbers_kubernetes_would(
    fraud: Any, tmp_path: Path, capsys: Any
) -> None:
    from setpoint.cli.main import main

    def refused(*args: str) -> str:
        out = tmp_path / "k8s"
        with pytest.raises(SystemExit) as exit_:
            main(["deploy", "k8s", "pk/fraud-detector@champion", "-o", str(out), *args])
        assert exit_.value.code == 2 and not out.exists()
        return capsys.readouterr().err

    assert "'Fraud_1' is not a Kubernetes name" in refused("--name", "Fraud_1")
    # a password in the URL would be written into the ConfigMap in plain text
    password = ("--database-url", "postgresql://u:s3cret@db/sp", "--artifacts-url", "s3://b/x")
    assert "holds a password" in refused(*password)
    assert "at most 55 characters" in refused("--name", "f" * 56)
    assert "--namespace" in refused("--namespace", "ML")
    for option in ("--replicas", "--workers", "--cpu-target"):
        assert option in refused(option, "0")
    # numbers that could not go together, or too large to mean anything, and URLs
    assert "--max-replicas" in refused("--max-replicas", str(2**70))
    assert "must be within --min-replicas 2 and --max-replicas 3" in refused(
        "--replicas", "50", "--max-replicas", "3"
    )
    direct = ("--database-url", "postgresql://u@db/sp", "--artifacts-url", "s3://b/x")
    assert "not both" in refused("--setpoint-url", "http://a:1", *direct)
    assert "is not an http(s)://HOST[:PORT] URL" in refused("--setpoint-url", "not a url")
    main(
        ["deploy", "k8s", "pk/fraud-detector@champion", "-o", str(tmp_path / "ok"), "--name", "f1"]
    )
    assert "name: f1" in (tmp_path / "ok" / "service.yaml").read_text()


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_the_dockerfile_serves_the_alias_with_the_models_libraries(
    fraud: Any, tmp_path: Path, capsys: Any
) -> None:
    import sklearn

    from setpoint.cli.main import main

    main(["deploy", "docker", "pk/fraud-detector@champion", "-o", str(tmp_path)])
    text = (tmp_path / "Dockerfile").read_text()
    assert text.startswith("# Written by `setpoint deploy docker`")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert f'"scikit-learn=={sklearn.__version__}"' in text
    assert '"setpoint[postgres,s3,sklearn]"' in text
    assert re.search(
        r'^CMD \["setpoint", "serve", "pk/fraud-detector@champion", "--host", "0.0.0.0"', text, re.M
    )
    assert "USER 10001" in text and "/v2/health/ready" in text
    with pytest.raises(SystemExit) as exit_:
        main(["deploy", "docker", "pk/fraud-detector", "-o", str(tmp_path / "x")])
    assert exit_.value.code == 2 and "expected NAME@ALIAS" in capsys.readouterr().err
    # the name tags the image and goes into CMD, whose exec form is JSON: checked
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                *("deploy", "docker", "pk/fraud-detector@champion"),
                *("-o", str(tmp_path / "y"), "--name", 'Bad Name"x'),
            ]
        )
    assert exit_.value.code == 2 and "has characters outside" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
    command = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert command is not None and json.loads(command.group(1))[:3] == [
        "setpoint",
        "serve",
        "pk/fraud-detector@champion",
    ]
