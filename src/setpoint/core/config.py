"""Settings, read from the environment only when asked (never at import time).

| variable | meaning | default |
|---|---|---|
| SETPOINT_HOME | folder of the embedded store | ./.setpoint |
| SETPOINT_DATABASE_URL | SQLAlchemy URL of the metadata database | sqlite:///$SETPOINT_HOME/setpoint.db |
| SETPOINT_ARTIFACTS_URL | fsspec URL of the artifact store | $SETPOINT_HOME/artifacts |
| SETPOINT_ARTIFACTS_OPTIONS | JSON object of fsspec storage options | {} |
| SETPOINT_ARTIFACTS_FSYNC | fsync each local blob before it is recorded (1/0) | 0 |
| SETPOINT_URL | a setpoint server: when set, the SDK runs in remote mode | unset |
| SETPOINT_TOKEN | bearer token sent to SETPOINT_URL | unset |
| SETPOINT_FLUSH_INTERVAL | seconds between background metric flushes | 0.5 |
| SETPOINT_HEARTBEAT_INTERVAL | seconds between a running run's heartbeats | 5 |
| SETPOINT_HEARTBEAT_TIMEOUT | seconds without a heartbeat before a run counts as failed | 30 |
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from setpoint.core.errors import ConfigurationError

ENV_VARS = (
    "SETPOINT_HOME",
    "SETPOINT_DATABASE_URL",
    "SETPOINT_ARTIFACTS_URL",
    "SETPOINT_ARTIFACTS_OPTIONS",
    "SETPOINT_ARTIFACTS_FSYNC",
    "SETPOINT_URL",
    "SETPOINT_TOKEN",
    "SETPOINT_FLUSH_INTERVAL",
    "SETPOINT_HEARTBEAT_INTERVAL",
    "SETPOINT_HEARTBEAT_TIMEOUT",
)


DEFAULT_PROJECT = "default"


def default_project(project: str | None = None) -> str:
    """``project`` if given, else SETPOINT_PROJECT, else "default"."""
    return project if project is not None else os.environ.get("SETPOINT_PROJECT") or DEFAULT_PROJECT


@dataclass(frozen=True, kw_only=True)
class Settings:
    home: str
    database_url: str
    artifacts_url: str
    artifacts_options: dict[str, object] = field(default_factory=dict)
    # Blobs in a local folder always appear whole (written aside, then renamed); with this
    # they are also on disk before anything refers to them (surviving power loss).
    artifacts_fsync: bool = False
    server_url: str | None = None
    token: str | None = None
    flush_interval: float = 0.5
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 30.0

    @property
    def remote(self) -> bool:
        return self.server_url is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = os.path.abspath(env.get("SETPOINT_HOME") or ".setpoint")
        database_url = env.get("SETPOINT_DATABASE_URL") or f"sqlite:///{home}/setpoint.db"
        artifacts_url = env.get("SETPOINT_ARTIFACTS_URL") or os.path.join(home, "artifacts")
        raw_options = env.get("SETPOINT_ARTIFACTS_OPTIONS") or "{}"
        try:
            options = json.loads(raw_options)
        except ValueError as exc:
            raise ConfigurationError(
                f"SETPOINT_ARTIFACTS_OPTIONS must be a JSON object: {exc}",
                field="SETPOINT_ARTIFACTS_OPTIONS",
            ) from None
        if not isinstance(options, dict):
            raise ConfigurationError(
                "SETPOINT_ARTIFACTS_OPTIONS must be a JSON object",
                field="SETPOINT_ARTIFACTS_OPTIONS",
            )
        fsync = _flag(env, "SETPOINT_ARTIFACTS_FSYNC")
        interval = _seconds(env, "SETPOINT_FLUSH_INTERVAL", 0.5, 60)
        heartbeat = _seconds(env, "SETPOINT_HEARTBEAT_INTERVAL", 5.0, 3600)
        timeout = _seconds(env, "SETPOINT_HEARTBEAT_TIMEOUT", 30.0, 86400)
        if heartbeat * 2 > timeout:
            raise ConfigurationError(
                f"SETPOINT_HEARTBEAT_INTERVAL ({heartbeat:g} s) must be at most half of "
                f"SETPOINT_HEARTBEAT_TIMEOUT ({timeout:g} s), or live runs would be failed",
                field="SETPOINT_HEARTBEAT_INTERVAL",
            )
        server_url = (env.get("SETPOINT_URL") or "").rstrip("/") or None
        if server_url is not None:
            _check_server_url(server_url)
        return cls(
            home=home,
            database_url=database_url,
            artifacts_url=artifacts_url,
            artifacts_options=options,
            artifacts_fsync=fsync,
            server_url=server_url,
            token=env.get("SETPOINT_TOKEN") or None,
            flush_interval=interval,
            heartbeat_interval=heartbeat,
            heartbeat_timeout=timeout,
        )


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "")
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (true or false), got {raw!r}", field=name)


def _seconds(env: Mapping[str, str], name: str, default: float, maximum: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= maximum:
        raise ConfigurationError(
            f"{name} must be a number of seconds in (0, {maximum:g}], got {raw!r}", field=name
        )
    return value


def _check_server_url(url: str) -> None:
    """SETPOINT_URL: http(s)://host[:port][/path]."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ConfigurationError(
            f"SETPOINT_URL {url!r} is not a URL: {exc}", field="SETPOINT_URL"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"SETPOINT_URL must be http(s)://HOST[:PORT] (a setpoint server), got {url!r}",
            field="SETPOINT_URL",
        )
