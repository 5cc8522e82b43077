"""Settings from the environment: defaults, and one clear error per bad value."""

from __future__ import annotations

import pytest

from setpoint.core.config import Settings
from setpoint.core.errors import ConfigurationError


def test_defaults_live_under_the_home_folder(tmp_path: object) -> None:
    s = Settings.from_env({"SETPOINT_HOME": "/data/sp"})
    assert s.database_url == "sqlite:////data/sp/setpoint.db"
    assert s.artifacts_url == "/data/sp/artifacts"
    assert not s.remote and s.flush_interval == 0.5
    assert not s.artifacts_fsync


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("True", True), ("0", False), ("no", False)]
)
def test_artifacts_fsync_is_a_switch(raw: str, expected: bool) -> None:
    assert Settings.from_env({"SETPOINT_ARTIFACTS_FSYNC": raw}).artifacts_fsync is expected


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"SETPOINT_ARTIFACTS_OPTIONS": "{nope"}, "SETPOINT_ARTIFACTS_OPTIONS"),
        ({"SETPOINT_ARTIFACTS_OPTIONS": "[1]"}, "SETPOINT_ARTIFACTS_OPTIONS"),
        ({"SETPOINT_FLUSH_INTERVAL": "0"}, "SETPOINT_FLUSH_INTERVAL"),
        ({"SETPOINT_FLUSH_INTERVAL": "soon"}, "SETPOINT_FLUSH_INTERVAL"),
        ({"SETPOINT_HEARTBEAT_INTERVAL": "60"}, "SETPOINT_HEARTBEAT_INTERVAL"),
        ({"SETPOINT_ARTIFACTS_FSYNC": "always"}, "SETPOINT_ARTIFACTS_FSYNC"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        Settings.from_env(env)
    assert err.value.field == field


def test_a_server_url_means_remote_mode() -> None:
    s = Settings.from_env({"SETPOINT_URL": "http://host:8000/", "SETPOINT_TOKEN": "spt_x"})
    assert s.remote and s.server_url == "http://host:8000" and s.token == "spt_x"
