"""``setpoint deploy docker|k8s``: files to run ``setpoint serve`` for a model's alias in a
container or on Kubernetes."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from setpoint.serving.packaging import Target

SECRET_NOTE = """\
# Written by `setpoint deploy k8s` for {model}. Before applying, create the Secret the pods
# read their tokens from:
#   kubectl create secret generic {name}-secrets \\
#     --from-literal=SETPOINT_TOKEN=<a token of the store> \\
#     --from-literal=SETPOINT_SERVE_TOKENS=<tokens clients send, comma-separated>
"""


# Kubernetes object names: a Service's is a DNS-1035 label (63 characters at most, and the
# ConfigMap and Secret add "-secrets"); a namespace's a DNS-1123 label.
_K8S_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_K8S_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LONGEST_NAME = 63 - len("-secrets")


def _check_k8s_name(value: str, pattern: re.Pattern[str], longest: int, what: str) -> None:
    if len(value) > longest or not pattern.fullmatch(value):
        start = "a letter" if pattern is _K8S_NAME else "a letter or digit"
        raise click.BadParameter(
            f"{what} {value!r} is not a Kubernetes name: lowercase letters, digits and '-', "
            f"starting with {start} and ending with a letter or digit, at most {longest} "
            "characters",
            param_hint="--namespace" if pattern is _K8S_NAMESPACE else "--name",
        )


def _has_password(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password is not None
    except ValueError:  # not a URL that splits: refuse any with credentials in it
        return "@" in url


@click.group()
def deploy() -> None:
    """Package a model's alias for serving: a Dockerfile, Kubernetes manifests."""


def _target(model: str, workers: int, name: str | None) -> tuple[Target, str]:
    from setpoint.client import sdk
    from setpoint.client.models import fetch
    from setpoint.models.package import read_meta
    from setpoint.serving.packaging import Target

    _, at, alias = model.partition("@")
    if not at:
        raise click.BadParameter(
            "expected NAME@ALIAS (the server follows the alias)", param_hint="MODEL"
        )
    version = sdk.get_model_version(model)
    folder = fetch(sdk.client(), version, os.path.join(sdk.settings().home, "cache"))
    meta = read_meta(str(folder))
    deployment = name or version.name
    target = Target(
        model=f"{version.project}/{version.name}@{alias}",
        name=deployment,
        flavor=meta.flavor,
        requirements=meta.requirements,
        workers=workers,
    )
    return target, deployment


def _write(folder: str, files: dict[str, str], force: bool) -> None:
    os.makedirs(folder, exist_ok=True)
    taken = [f for f in files if os.path.exists(os.path.join(folder, f))]
    if taken and not force:
        click.echo(f"error: {os.path.join(folder, taken[0])} exists; --force overwrites", err=True)
        sys.exit(1)
    for file, text in files.items():
        with open(os.path.join(folder, file), "w", encoding="utf-8") as fh:
            fh.write(text)


@deploy.command("docker")
@click.argument("model")
@click.option("--output", "-o", default=".", show_default=True, help="Folder for the Dockerfile.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--name", default=None, help="Deployment name (default: the model's).")
@click.option(
    "--setpoint-requirement",
    default="setpoint",
    show_default=True,
    help="What pip installs setpoint from.",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def docker(
    model: str, output: str, workers: int, name: str | None, setpoint_requirement: str, force: bool
) -> None:
    """Write a Dockerfile serving MODEL (name@alias) with the model's library versions."""
    from setpoint.serving.packaging import dockerfile

    # the deployment's name, as `setpoint serve --name` takes it (it goes into CMD and tags
    # the image)
    if name is not None:
        from setpoint.core.errors import InvalidArgumentError
        from setpoint.core.names import check_name

        try:
            check_name(name, "name")
        except InvalidArgumentError as exc:
            raise click.BadParameter(exc.message, param_hint="--name") from None
    target, _ = _target(model, workers, name)
    _write(output, {"Dockerfile": dockerfile(target, setpoint_requirement)}, force)
    click.echo(f"wrote {os.path.join(output, 'Dockerfile')}")


@deploy.command("k8s")
@click.argument("model")
@click.option("--output", "-o", default="k8s", show_default=True, help="Folder for the manifests.")
@click.option("--image", default=None, help="Container image (default: NAME:latest).")
@click.option("--replicas", default=2, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--min-replicas", default=2, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--max-replicas", default=10, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--cpu-target",
    default=70,
    show_default=True,
    type=click.IntRange(min=1),
    help="HPA target CPU %.",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--setpoint-url",
    default=None,
    help="The setpoint server the pods read models from  [default: http://setpoint.setpoint.svc:8080]",
)
@click.option(
    "--database-url",
    default=None,
    help="Reach the store directly: its database (with --artifacts-url; a password goes in "
    "the Secret as SETPOINT_DATABASE_URL instead).",
)
@click.option(
    "--artifacts-url", default=None, help="Reach the store directly: its artifacts (s3://...)."
)
@click.option("--namespace", default=None)
@click.option("--name", default=None, help="Deployment name (default: the model's).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def k8s(
    model: str,
    output: str,
    image: str | None,
    replicas: int,
    min_replicas: int,
    max_replicas: int,
    cpu_target: int,
    workers: int,
    setpoint_url: str | None,
    database_url: str | None,
    artifacts_url: str | None,
    namespace: str | None,
    name: str | None,
    force: bool,
) -> None:
    """Write Kubernetes manifests serving MODEL (name@alias): Deployment (probes on the
    health endpoints), Service, HorizontalPodAutoscaler, ConfigMap."""
    from setpoint.serving.packaging import kubernetes, to_yaml

    if not 1 <= min_replicas <= max_replicas:
        raise click.BadParameter(
            "need 1 <= --min-replicas <= --max-replicas", param_hint="--min-replicas"
        )
    if not min_replicas <= replicas <= max_replicas:
        raise click.BadParameter(
            f"--replicas {replicas} must be within --min-replicas {min_replicas} and "
            f"--max-replicas {max_replicas}",
            param_hint="--replicas",
        )
    if setpoint_url is not None and database_url:
        raise click.BadParameter(
            "give --setpoint-url (pods read through a server) or --database-url and "
            "--artifacts-url (pods read the store), not both",
            param_hint="--setpoint-url",
        )
    if setpoint_url is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(setpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise click.BadParameter(
                f"{setpoint_url!r} is not an http(s)://HOST[:PORT] URL", param_hint="--setpoint-url"
            )
    setpoint_url = setpoint_url or "http://setpoint.setpoint.svc:8080"
    if bool(database_url) != bool(artifacts_url):
        raise click.BadParameter(
            "give both --database-url and --artifacts-url, or neither", param_hint="--database-url"
        )
    if database_url and _has_password(database_url):
        raise click.BadParameter(
            "the URL holds a password, which would be written into the ConfigMap in plain "
            "text: give it without one, and put the whole URL in the Secret as "
            "SETPOINT_DATABASE_URL (see the note in deployment.yaml)",
            param_hint="--database-url",
        )
    if namespace is not None:
        _check_k8s_name(namespace, _K8S_NAMESPACE, 63, "the namespace")
    if name is not None:
        _check_k8s_name(name, _K8S_NAME, _LONGEST_NAME, "the name")
    target, deployment = _target(model, workers, name)
    if name is None:
        _check_k8s_name(deployment, _K8S_NAME, _LONGEST_NAME, "the model's name (give --name)")
    docs = kubernetes(
        target,
        image=image or f"{deployment}:latest",
        replicas=replicas,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu_target=cpu_target,
        setpoint_url=setpoint_url,
        namespace=namespace,
        database_url=database_url,
        artifacts_url=artifacts_url,
    )
    header = SECRET_NOTE.format(model=model, name=deployment)
    files = {f: to_yaml(d, header if f == "deployment.yaml" else "") for f, d in docs.items()}
    _write(output, files, force)
    click.echo(f"wrote {', '.join(os.path.join(output, f) for f in files)}")
