"""The service's settings, read from environment variables (``DECISIONS_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from scoring.names import (
    CHAMPION,
    DEFAULT_DECISIONS_DB_URL,
    DEFAULT_MODEL_URL,
    DEFAULT_STORE,
    MODEL_NAME,
)

DEFAULT_DB_URL = DEFAULT_DECISIONS_DB_URL


class ConfigError(ValueError):
    """A setting cannot be used; the message names the variable or file."""


@dataclass
class Settings:
    """Where the service finds its database, model server, feature store and credentials."""

    db_url: str = DEFAULT_DB_URL
    model_url: str = DEFAULT_MODEL_URL
    store: str = DEFAULT_STORE
    model_name: str = MODEL_NAME
    model_alias: str = CHAMPION
    #: The served version; looked up in the MLflow registry (by alias) when empty.
    model_version: str = ""
    #: Seconds to wait for the model server: under load it queues requests, it does not fail.
    model_timeout: float = 30.0
    db_timeout: float = 10.0
    #: Applications at most in one model request when scores wait for the model servers
    #: (``decisions.batching``; 1: one request each), and the threads sending them.
    model_batch: int = 8
    model_senders: int = 4
    #: The users file (``decisions.users``): people, their roles and passwords, API keys.
    users_file: str | None = None
    #: name -> key of systems (role system, ``X-API-Key``) given by DECISIONS_API_KEYS.
    api_keys: dict[str, str] = field(default_factory=dict)
    #: advisor -> password given by DECISIONS_ADVISORS (the older form; a warning says so).
    advisors: dict[str, str] = field(default_factory=dict)
    #: Failed logins allowed per user name and per address within ``login_window`` seconds.
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window: float = 300.0
    #: Peers whose ``X-Real-IP`` header names the caller's address (nginx on this host).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    #: Which overrides wait for a supervisor: ``all``, ``off`` or ``above:AMOUNT`` (credit).
    four_eyes: str = "all"
    #: The Ed25519 key signing the chain's checkpoints, and the checkpoints' file (JSON
    #: lines); empty: beside an SQLite database, else under ``data/``.
    signing_key: str = ""
    checkpoint_file: str = ""

    def __post_init__(self) -> None:
        four_eyes_limit(self.four_eyes)

    def users(self):
        """The users file watched for changes, with the environment's keys and advisors."""
        from decisions.users import UsersFile, parse

        extra = parse({"api_keys": self.api_keys, "advisors": self.advisors},
                      "DECISIONS_API_KEYS / DECISIONS_ADVISORS")
        return UsersFile(self.users_file, extra)

    def key_path(self) -> Path:
        return Path(self.signing_key) if self.signing_key else _beside_db(self.db_url,
                                                                          ".signing-key")

    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint_file) if self.checkpoint_file else _beside_db(
            self.db_url, ".checkpoints.jsonl")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from ``DECISIONS_*`` variables; people and keys from the users file
        ``DECISIONS_USERS_FILE`` (``decisions.users``)."""
        env = dict(os.environ if env is None else env)
        s = cls(db_url=env.get("DECISIONS_DB_URL", DEFAULT_DB_URL),
                model_url=env.get("DECISIONS_MODEL_URL", DEFAULT_MODEL_URL),
                store=env.get("DECISIONS_STORE", DEFAULT_STORE),
                model_name=env.get("DECISIONS_MODEL_NAME", MODEL_NAME),
                model_alias=env.get("DECISIONS_MODEL_ALIAS", CHAMPION),
                model_version=env.get("DECISIONS_MODEL_VERSION", ""),
                model_timeout=_number(env, "DECISIONS_MODEL_TIMEOUT", 30.0),
                db_timeout=_number(env, "DECISIONS_DB_TIMEOUT", 10.0),
                model_batch=int(_number(env, "DECISIONS_MODEL_BATCH", 8)),
                model_senders=int(_number(env, "DECISIONS_MODEL_SENDERS", 4)),
                # DECISIONS_AUTH_FILE: the same file under its earlier name
                users_file=env.get("DECISIONS_USERS_FILE") or env.get("DECISIONS_AUTH_FILE"),
                login_failures_per_user=int(_number(env, "DECISIONS_LOGIN_FAILURES_PER_USER", 5)),
                login_failures_per_address=int(_number(
                    env, "DECISIONS_LOGIN_FAILURES_PER_ADDRESS", 20)),
                login_window=_number(env, "DECISIONS_LOGIN_WINDOW", 300.0),
                trusted_proxies=tuple(p.strip() for p in env.get(
                    "DECISIONS_TRUSTED_PROXIES", "127.0.0.1,::1").split(",") if p.strip()),
                four_eyes=env.get("DECISIONS_FOUR_EYES", "all"),
                signing_key=env.get("DECISIONS_SIGNING_KEY", ""),
                checkpoint_file=env.get("DECISIONS_CHECKPOINT_FILE", ""))
        s.api_keys.update(_pairs(env, "DECISIONS_API_KEYS"))
        s.advisors.update(_pairs(env, "DECISIONS_ADVISORS"))
        if s.users_file:
            from decisions.users import UsersFileError, load_users

            try:
                load_users(s.users_file)
            except UsersFileError as err:
                raise ConfigError(str(err)) from None
        return s


def four_eyes_limit(value: str) -> float | None:
    """The credit amount above which an override waits for a supervisor: 0 for ``all``,
    None for ``off``, AMOUNT for ``above:AMOUNT``; ConfigError naming DECISIONS_FOUR_EYES."""
    if value == "all":
        return 0.0
    if value == "off":
        return None
    kind, _, amount = value.partition(":")
    try:
        if kind == "above" and float(amount) >= 0:
            return float(amount)
    except ValueError:
        pass
    raise ConfigError(f"DECISIONS_FOUR_EYES: expected all, off or above:AMOUNT (a credit "
                      f"amount), got {value!r}")


def _beside_db(db_url: str, suffix: str) -> Path:
    """A file next to an SQLite database (``data/decisions.db`` -> ``data/decisions.SUFFIX``),
    else ``data/decisions.SUFFIX``."""
    if db_url.startswith("sqlite:///") and ":memory:" not in db_url:
        return Path(db_url.removeprefix("sqlite:///")).with_suffix(suffix)
    return Path("data/decisions").with_suffix(suffix)


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
        raise ConfigError(f"{name}: expected a number, got {env[name]!r}") from None
