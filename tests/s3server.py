"""An S3-compatible server (moto) in this process, on loopback, for tests marked ``s3``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


BUCKET = "setpoint-tests"


def start_s3_server() -> tuple[str, Callable[[], None]]:
    """Start moto's server on 127.0.0.1 and a free port; return (endpoint URL, stop)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}", server.stop


def s3_options(endpoint_url: str) -> dict[str, Any]:
    """The s3fs storage options that reach ``endpoint_url`` with dummy credentials."""
    return {
        "key": ACCESS_KEY,
        "secret": SECRET_KEY,
        "client_kwargs": {"endpoint_url": endpoint_url, "region_name": REGION},
    }


def make_bucket(endpoint_url: str, name: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=name)
