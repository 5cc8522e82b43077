"""A schemathesis run over the server's own OpenAPI description: whatever schema-shaped
request it generates, the server answers without a 5xx (and stays up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.live import LiveServer, _spec, models  # noqa: F401
from setpoint.client.serving import build_app

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["sqlite"], indirect=True)
def test_no_generated_request_gets_a_server_error(
    client: Any,
    models: dict[str, Any],
    tmp_path: Path,
) -> None:
    from hypothesis import HealthCheck, given, settings

    app = build_app(_spec(log=False, access_log=False), client, str(tmp_path / "cache"))
    with LiveServer(app) as live:
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        for operation in operations:

            @settings(
                max_examples=40,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy())
            def check(case: Any) -> None:
                response = case.call(base_url=live.url)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:300]}"
                    )

            check()
        assert failures == []
        assert httpx.get(f"{live.url}/v2/health/ready").status_code == 200
