"""The service's settings, read from environment variables (``DECISIONS_*``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from scoring.names import CHAMPION, DEFAULT_DECISIONS_DB_URL, DEFAULT_MODEL_URL, MODEL_NAME

DEFAULT_DB_URL = DEFAULT_DECISIONS_DB_URL


class ConfigError(ValueError):
    """A setting cannot be used; the message names the variable or file."""


@dataclass
class Settings:
    """Where the service finds its database, model server, feature store and credentials."""

    db_url: str = DEFAULT_DB_URL
    model_url: str = DEFAULT_MODEL_URL
    store: str = "data/features"
    model_name: str = MODEL_NAME
    model_alias: str = CHAMPION
    #: The served version; looked up in the MLflow registry (by alias) when empty.
    model_version: str = ""
    #: Seconds to wait for the model server: under load it queues requests, it does not fail.
    model_timeout: float = 30.0
    db_timeout: float = 10.0
    #: name -> key of the systems allowed to read scores and decisions (``X-API-Key``).
    api_keys: dict[str, str] = field(default_factory=dict)
    #: advisor id -> password (HTTP basic); ``sha256:<hex>`` holds a password's SHA-256.
    advisors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from ``DECISIONS_*`` variables; credentials also from
        ``DECISIONS_AUTH_FILE`` (JSON ``{"api_keys": {...}, "advisors": {...}}``)."""
        env = dict(os.environ if env is None else env)
        s = cls(db_url=env.get("DECISIONS_DB_URL", DEFAULT_DB_URL),
                model_url=env.get("DECISIONS_MODEL_URL", DEFAULT_MODEL_URL),
                store=env.get("DECISIONS_STORE", "data/features"),
                model_name=env.get("DECISIONS_MODEL_NAME", MODEL_NAME),
                model_alias=env.get("DECISIONS_MODEL_ALIAS", CHAMPION),
                model_version=env.get("DECISIONS_MODEL_VERSION", ""),
                model_timeout=_number(env, "DECISIONS_MODEL_TIMEOUT", 30.0),
                db_timeout=_number(env, "DECISIONS_DB_TIMEOUT", 10.0))
        if env.get("DECISIONS_AUTH_FILE"):
            keys, advisors = read_auth_file(env["DECISIONS_AUTH_FILE"])
            s.api_keys.update(keys)
            s.advisors.update(advisors)
        s.api_keys.update(_pairs(env, "DECISIONS_API_KEYS"))
        s.advisors.update(_pairs(env, "DECISIONS_ADVISORS"))
        return s


def read_auth_file(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """(api_keys, advisors) of a credentials file; a clear error when it is unusable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"DECISIONS_AUTH_FILE {path}: cannot read it as JSON ({err})") from None
    out = []
    for part in ("api_keys", "advisors"):
        value = data.get(part, {}) if isinstance(data, dict) else None
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
            raise ConfigError(f"DECISIONS_AUTH_FILE {path}: {part!r} must be an object of "
                              "name: non-empty text")
        out.append(value)
    return out[0], out[1]


def _pairs(env: dict[str, str], name: str) -> dict[str, str]:
    """``a=x,b=y`` -> {"a": "x", "b": "y"}."""
    out = {}
    for item in filter(None, (p.strip() for p in env.get(name, "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{name}: expected name=secret pairs separated by commas, "
                              f"got {key!r}")
        out[key.strip()] = value.strip()
    return out


def _number(env: dict[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {env[name]!r}") from None
