"""Packaging a served model: a Dockerfile whose image runs ``setpoint serve`` with the
model's own library versions, and Kubernetes manifests for it (Deployment with probes on
the health endpoints, Service, HorizontalPodAutoscaler, ConfigMap with the store's
address; the tokens come from a Secret the cluster's owner creates)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

# flavor -> the setpoint extra that installs its library
EXTRAS = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "onnx": "onnx",
}
PORT = 8080


@dataclass(frozen=True, kw_only=True)
class Target:
    """What to serve and how: ``model`` as name@alias, the deployment's ``name``."""

    model: str
    name: str
    flavor: str
    requirements: dict[str, str]
    workers: int = 2
    python: str = "3.11"


def dockerfile(t: Target, setpoint_requirement: str = "setpoint") -> str:
    extras = ",".join(sorted({EXTRAS.get(t.flavor, ""), "postgres", "s3"} - {""}))
    pins = " ".join(
        f'"{name}=={version}"'
        for name, version in sorted(t.requirements.items())
        if name != "setpoint"
    )
    command = ", ".join(json.dumps(a) for a in serve_args(t))  # CMD's exec form is JSON
    return f"""\
# Written by `setpoint deploy docker`: serves {t.model} from your setpoint store.
# Build: docker build -t {t.name}:latest .
# Run:   docker run -p {PORT}:{PORT} -e SETPOINT_URL=http://setpoint:8080 \\
#          -e SETPOINT_TOKEN=... -e SETPOINT_SERVE_TOKENS=... {t.name}:latest
FROM python:{t.python}-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 OMP_NUM_THREADS=1 SETPOINT_HOME=/home/setpoint/.setpoint
# setpoint with what the store and the {t.flavor} flavor need, and the versions the model was saved with
RUN pip install "{setpoint_requirement}[{extras}]"{" " + pins if pins else ""}
RUN useradd --create-home --uid 10001 setpoint
USER 10001
WORKDIR /home/setpoint
EXPOSE {PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \\
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/v2/health/ready')"
STOPSIGNAL SIGTERM
CMD [{command}]
"""


def serve_args(t: Target) -> list[str]:
    return [
        "setpoint",
        "serve",
        t.model,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--workers",
        str(t.workers),
        "--name",
        t.name,
    ]


def kubernetes(
    t: Target,
    *,
    image: str,
    replicas: int = 2,
    min_replicas: int = 2,
    max_replicas: int = 10,
    cpu_target: int = 70,
    setpoint_url: str = "http://setpoint.setpoint.svc:8080",
    namespace: str | None = None,
    database_url: str | None = None,
    artifacts_url: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The manifests by file name. The pods reach the store through a setpoint server
    (``setpoint_url``), or directly (``database_url`` and ``artifacts_url``)."""
    labels = {"app.kubernetes.io/name": t.name, "app.kubernetes.io/part-of": "setpoint"}

    def meta(name: str) -> dict[str, Any]:
        m: dict[str, Any] = {"name": name, "labels": dict(labels)}
        if namespace:
            m["namespace"] = namespace
        return m

    probe = {"httpGet": {"path": "/v2/health/ready", "port": "http"}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(t.name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": t.name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                # no prometheus.io/scrape annotations: /metrics takes a bearer token like
                # everything but the health checks, which such a scrape does not send
                # (docs/serving.md shows a scrape config that does)
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "terminationGracePeriodSeconds": 45,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [
                        {
                            "name": "server",
                            "image": image,
                            "args": serve_args(t),
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "envFrom": [
                                {"configMapRef": {"name": f"{t.name}-config"}},
                                {"secretRef": {"name": f"{t.name}-secrets"}},
                            ],
                            "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 90},
                            "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 3},
                            "livenessProbe": {
                                "httpGet": {"path": "/v2/health/live", "port": "http"},
                                "periodSeconds": 10,
                                "failureThreshold": 3,
                            },
                            "resources": {
                                "requests": {"cpu": str(t.workers), "memory": "512Mi"},
                                "limits": {"memory": "2Gi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(t.name),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": t.name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(t.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": t.name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": cpu_target},
                    },
                }
            ],
        },
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(f"{t.name}-config"),
        "data": _store_config(setpoint_url, database_url, artifacts_url),
    }
    return {
        "deployment.yaml": deployment,
        "service.yaml": service,
        "hpa.yaml": hpa,
        "configmap.yaml": config,
    }


def _store_config(
    setpoint_url: str, database_url: str | None, artifacts_url: str | None
) -> dict[str, str]:
    data = {"OMP_NUM_THREADS": "1"}
    if database_url or artifacts_url:
        if not (database_url and artifacts_url):
            raise ValueError("give both the database URL and the artifacts URL, or neither")
        data["SETPOINT_DATABASE_URL"] = database_url
        data["SETPOINT_ARTIFACTS_URL"] = artifacts_url
    else:
        data["SETPOINT_URL"] = setpoint_url
    return data


def to_yaml(doc: dict[str, Any], header: str = "") -> str:
    return header + yaml.safe_dump(doc, sort_keys=False)
