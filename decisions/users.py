"""Who may call the decision service: people (name, password, role) and systems (API keys).

One JSON file holds them (``DECISIONS_USERS_FILE``; ``scoring up`` keeps it in its run
folder)::

    {"users": {"alice": {"password": "$argon2id$...", "role": "advisor", "disabled": false},
               "c100002": {"password": "$argon2id$...", "role": "client", "client_id": 100002}},
     "api_keys": {"dashboard": {"key": "sha256:<hex>", "role": "system",
                                "act_for_users": true},
                  "ops": "<key, or sha256:<hex> of it>"},
     "advisors": {"bob": "<password, or sha256:<hex> of it>"}}

Passwords are stored as argon2id hashes (argon2-cffi). The older forms still work, with a
warning in the log: ``advisors`` entries (role advisor) and ``sha256:`` passwords, which
``scoring users rehash`` wraps in argon2id (``sha256+argon2:``) without knowing them. API keys
are random high-entropy secrets, for which a SHA-256 is enough. A successful password check is
kept in memory (keyed by an HMAC of name and password under a per-process random key), so a
request with basic credentials costs an argon2 hash only once per process and password.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger("decisions.users")

#: The roles, each allowed a set of routes (docs/guides/users.md).
SYSTEM = "system"
ADVISOR = "advisor"
SUPERVISOR = "supervisor"
CLIENT = "client"
PERSON_ROLES = (ADVISOR, SUPERVISOR, CLIENT)
ROLES = (SYSTEM, *PERSON_ROLES)
#: ASVS 2.1.1: at least 12 characters.
MIN_PASSWORD_LENGTH = 12
SHA256 = "sha256:"
#: A legacy ``sha256:`` password wrapped in argon2id: argon2id of the SHA-256 hex digest.
WRAPPED = "sha256+argon2:"

_HASHER = PasswordHasher()  # argon2id, RFC 9106's low-memory profile (t=3, 64 MiB, p=4)
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))
_CACHE_KEY = secrets.token_bytes(32)
_CACHE: dict[bytes, str] = {}
_CACHE_SIZE = 10_000
_WARNED: set[str] = set()


class UsersFileError(ValueError):
    """The users file cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class User:
    """A person the service knows; ``client_id`` only for the client role."""

    name: str
    role: str
    client_id: int | None = None
    disabled: bool = False


@dataclass(frozen=True)
class ApiKey:
    """A system's key: its name, the stored key (``sha256:<hex>`` or the key itself) and
    whether it may act for a person (``X-Acting-For``)."""

    name: str
    stored: str
    act_for_users: bool = False
    role: str = SYSTEM


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (``$argon2id$...``, salt included)."""
    return _HASHER.hash(password)


def hash_key(key: str) -> str:
    """``sha256:<hex>`` of an API key (a random secret: no slow hash needed)."""
    return SHA256 + hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A random API key (32 bytes, URL-safe text)."""
    return secrets.token_urlsafe(32)


def scheme(stored: str) -> str:
    """How a password is stored: ``argon2id``, ``sha256+argon2`` (wrapped legacy),
    ``sha256`` (legacy) or ``plain`` (legacy)."""
    if stored.startswith("$argon2"):
        return "argon2id"
    if stored.startswith(WRAPPED):
        return "sha256+argon2"
    return "sha256" if stored.startswith(SHA256) else "plain"


def _argon2_matches(stored: str, given: str) -> bool:
    try:
        return _HASHER.verify(stored, given)
    except (VerificationError, InvalidHashError):
        return False


def _password_matches(stored: str, given: str, name: str) -> bool:
    kind = scheme(stored)
    if kind == "argon2id":
        return _argon2_matches(stored, given)
    if kind == "sha256+argon2":
        return _argon2_matches(stored[len(WRAPPED):], hashlib.sha256(given.encode()).hexdigest())
    if name not in _WARNED:
        _WARNED.add(name)
        log.warning("user %s: password stored as %s, not argon2id: run `scoring users "
                    "rehash` (or set a new password with `scoring users add`)", name, kind)
    if kind == "sha256":
        given, stored = hashlib.sha256(given.encode()).hexdigest(), stored[len(SHA256):].lower()
    return hmac.compare_digest(given.encode(), stored.encode())


def _cache_key(name: str, password: str) -> bytes:
    return hmac.new(_CACHE_KEY, f"{name}\0{password}".encode(), hashlib.sha256).digest()


@dataclass
class Users:
    """The people and API keys of one users file (plus those given by the environment)."""

    people: dict[str, tuple[User, str]] = field(default_factory=dict)  # name -> (user, stored)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)

    def verify(self, name: str, password: str) -> User | None:
        """The enabled user with this name and password; None otherwise (unknown names and
        disabled users cost an argon2 check too, so timing tells little)."""
        found = self.people.get(name)
        if found is None or found[0].disabled:
            _argon2_matches(_DUMMY, password)
            return None
        user, stored = found
        key = _cache_key(name, password)
        if _CACHE.get(key) == stored:
            return user
        if not _password_matches(stored, password, name):
            return None
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = stored
        return user

    def user(self, name: str) -> User | None:
        """The enabled user of this name (for a system acting for them), else None."""
        found = self.people.get(name)
        return found[0] if found and not found[0].disabled else None

    def api_key(self, given: str) -> ApiKey | None:
        """The API key matching ``given``, compared in constant time; None if none."""
        digest = hash_key(given)
        out = None
        for entry in self.api_keys.values():
            stored = entry.stored
            candidate = digest if stored.startswith(SHA256) else given
            if hmac.compare_digest(candidate.encode(), stored.lower().encode()
                                   if stored.startswith(SHA256) else stored.encode()):
                out = entry
        return out

    def scheme_of(self, name: str) -> str | None:
        found = self.people.get(name)
        return scheme(found[1]) if found else None

    def __bool__(self) -> bool:
        return bool(self.people or self.api_keys)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsersFileError(f"{where}: expected non-empty text, got {value!r}")
    return value


def _person(name: str, entry: Any, where: str) -> tuple[User, str]:
    if not isinstance(entry, dict):
        raise UsersFileError(f"{where}: expected an object with password and role")
    role = entry.get("role")
    if role not in PERSON_ROLES:
        raise UsersFileError(f"{where}: role must be one of {', '.join(PERSON_ROLES)}, "
                             f"got {role!r}")
    client_id = entry.get("client_id")
    if role == CLIENT and not isinstance(client_id, int):
        raise UsersFileError(f"{where}: a client needs an integer client_id, got {client_id!r}")
    if role != CLIENT and client_id is not None:
        raise UsersFileError(f"{where}: only a client has a client_id")
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        raise UsersFileError(f"{where}: disabled must be true or false, got {disabled!r}")
    return (User(name, role, client_id, disabled),
            _text(entry.get("password"), f"{where}.password"))


def _api_key(name: str, entry: Any, where: str) -> ApiKey:
    if isinstance(entry, str):
        return ApiKey(name, _text(entry, where))
    if not isinstance(entry, dict):
        raise UsersFileError(f"{where}: expected the key's text or an object with key, role")
    if entry.get("role", SYSTEM) != SYSTEM:
        raise UsersFileError(f"{where}: an API key's role is {SYSTEM!r}, got "
                             f"{entry.get('role')!r}")
    act = entry.get("act_for_users", False)
    if not isinstance(act, bool):
        raise UsersFileError(f"{where}: act_for_users must be true or false, got {act!r}")
    return ApiKey(name, _text(entry.get("key"), f"{where}.key"), act)


def parse(data: Any, source: str = "users file") -> Users:
    """The users of a users file's content; UsersFileError naming the entry when invalid."""
    if not isinstance(data, dict):
        raise UsersFileError(f"{source}: expected a JSON object with users, api_keys")
    for part in ("users", "api_keys", "advisors"):
        if not isinstance(data.get(part, {}), dict):
            raise UsersFileError(f"{source}: {part!r} must be an object of name: entry")
    out = Users()
    for name, password in data.get("advisors", {}).items():
        where = f"{source}: advisors.{name}"
        out.people[name] = (User(name, ADVISOR), _text(password, where))
        log.warning("%s is in the older 'advisors' form: run `scoring users rehash` to move "
                    "it to 'users' with an argon2id hash", where)
    for name, entry in data.get("users", {}).items():
        out.people[name] = _person(name, entry, f"{source}: users.{name}")
    for name, entry in data.get("api_keys", {}).items():
        out.api_keys[name] = _api_key(name, entry, f"{source}: api_keys.{name}")
    return out


def _read(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError) as err:
        raise UsersFileError(f"users file {path}: cannot read it as JSON ({err})") from None
    if not isinstance(data, dict):
        raise UsersFileError(f"users file {path}: expected a JSON object")
    return data


def load_users(path: str | Path) -> Users:
    """The users and API keys of the file at ``path`` (none when it does not exist)."""
    return parse(_read(path), f"users file {path}")


def _write(path: str | Path, data: dict) -> None:
    """Replace the file atomically, readable and writable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_user(path: str | Path, name: str, role: str, password: str,
             client_id: int | None = None, replace: bool = False) -> User:
    """Add a person (or, with ``replace``, set their role and password); returns them."""
    if not name or name != name.strip() or ":" in name:
        raise UsersFileError(f"user name {name!r}: non-empty, no spaces around, no ':'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsersFileError(f"the password of {name} has {len(password)} characters: at "
                             f"least {MIN_PASSWORD_LENGTH} are needed")
    entry: dict[str, Any] = {"password": hash_password(password), "role": role,
                             "disabled": False}
    if client_id is not None:
        entry["client_id"] = client_id
    user, _ = _person(name, entry, f"user {name}")
    data = _read(path)
    parse(data, f"users file {path}")
    exists = name in data.get("users", {}) or name in data.get("advisors", {})
    if exists and not replace:
        raise UsersFileError(f"users file {path}: {name} exists already (replace it to "
                             "change the role or password)")
    data.get("advisors", {}).pop(name, None)
    data.setdefault("users", {})[name] = entry
    _write(path, data)
    return user


def disable_user(path: str | Path, name: str) -> User:
    """Disable a person (kept in the file, refused at login); returns them."""
    data = _read(path)
    people = parse(data, f"users file {path}").people
    if name not in people:
        raise UsersFileError(f"users file {path}: no user {name!r}")
    user, stored = people[name]
    entry = data.get("users", {}).get(name) or {"password": stored, "role": ADVISOR}
    data.get("advisors", {}).pop(name, None)
    data.setdefault("users", {})[name] = {**entry, "disabled": True}
    _write(path, data)
    return User(user.name, user.role, user.client_id, True)


def add_api_key(path: str | Path, name: str, act_for_users: bool = False,
                replace: bool = False) -> str:
    """A new random API key for the system ``name``, stored as its SHA-256; returns the key
    (shown once: the file keeps only its hash)."""
    data = _read(path)
    parse(data, f"users file {path}")
    if name in data.get("api_keys", {}) and not replace:
        raise UsersFileError(f"users file {path}: API key {name!r} exists already")
    key = new_api_key()
    data.setdefault("api_keys", {})[name] = {"key": hash_key(key), "role": SYSTEM,
                                             "act_for_users": act_for_users}
    _write(path, data)
    return key


def list_users(path: str | Path) -> list[User]:
    """Every person of the file, by name."""
    people = load_users(path).people
    return [people[name][0] for name in sorted(people)]


def _rehashed(stored: str) -> str:
    """A stored password in argon2id: plain ones hashed, ``sha256:`` ones wrapped."""
    kind = scheme(stored)
    if kind == "plain":
        return hash_password(stored)
    if kind == "sha256":
        return WRAPPED + hash_password(stored[len(SHA256):].lower())
    return stored


def rehash(path: str | Path) -> list[str]:
    """Move every legacy password to argon2id: plain ones hashed, ``sha256:`` ones wrapped
    (argon2id of the digest), ``advisors`` moved to ``users``. API keys are left as they
    are (a program may read its key from the file). Returns the names changed."""
    data = _read(path)
    people = parse(data, f"users file {path}").people
    changed = []
    for name, (_, stored) in people.items():
        kind = scheme(stored)
        if kind in ("argon2id", "sha256+argon2") and name not in data.get("advisors", {}):
            continue
        entry = data.get("users", {}).get(name, {"role": ADVISOR, "disabled": False})
        data.setdefault("users", {})[name] = {**entry, "password": _rehashed(stored)}
        data.get("advisors", {}).pop(name, None)
        changed.append(name)
    if "advisors" in data and not data["advisors"]:
        del data["advisors"]
    if changed:
        _write(path, data)
    return changed


class UsersFile:
    """The users of a file, read again when the file changes (checked at most once a second),
    merged with those the environment gives (``extra``)."""

    def __init__(self, path: str | Path | None, extra: Users | None = None) -> None:
        self.path = Path(path) if path else None
        self.extra = extra or Users()
        self._stamp: tuple[float, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._users = self._load()

    def _load(self) -> Users:
        if self.path is None:
            return self.extra
        self._stamp = _stamp(self.path)
        loaded = load_users(self.path)
        return Users({**self.extra.people, **loaded.people},
                     {**self.extra.api_keys, **loaded.api_keys})

    def current(self) -> Users:
        """The users now: the file is read again when its time or size changed."""
        if self.path is None or time.monotonic() - self._checked < 1.0:
            return self._users
        with self._lock:
            self._checked = time.monotonic()
            if _stamp(self.path) != self._stamp:
                try:
                    self._users = self._load()
                except UsersFileError as err:  # keep serving with the last good file
                    log.error("%s (still using the users read before)", err)
        return self._users


def _stamp(path: Path) -> tuple[float, int] | None:
    """The file's modification time and size (None when it cannot be read): what tells that
    it changed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime, st.st_size
