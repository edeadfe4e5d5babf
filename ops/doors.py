"""Every door of ``scoring up`` locked: the credentials the services need, written once in the
run folder (mode 600), and the check that refuses to open a door beyond loopback without a
login.

| door | lock |
|---|---|
| dashboard | Panel's login page on the user file (``dashboard/login.py``) or the bank's OIDC |
| decision service | API keys and people's passwords (argon2id) of the user file |
| MLflow UI | nginx's basic auth (``tracking.htpasswd``) beyond loopback |
| model URL | on loopback only: the decision service is the way in from outside |
| all of them | TLS at nginx (``--tls-cert/--tls-key``), security headers, throttled logins |

On loopback nothing is asked: a first advisor and supervisor get random passwords, shown once
and kept in ``first-logins.txt`` (mode 600) so that a new user can log in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import subprocess
from pathlib import Path

from ops.settings import ServiceError, Settings

#: The people a loopback start creates when the user file has none, with their role.
FIRST_PEOPLE = {"advisor": "advisor", "supervisor": "supervisor"}
#: The user of the MLflow UI behind nginx's basic auth.
TRACKING_USER = "mlflow"
#: Panel's generic OAuth provider reads these (``panel serve --oauth-provider generic``).
OIDC_VARIABLES = ("PANEL_OAUTH_KEY", "PANEL_OAUTH_SECRET", "PANEL_OAUTH_EXTRA_PARAMS")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by this user only (created mode 600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def _read_users(s: Settings) -> dict:
    if not s.users_file.is_file():
        return {}
    try:
        data = json.loads(s.users_file.read_text())
    except ValueError as err:
        raise ServiceError(f"{s.users_file}: not JSON ({err})") from None
    if not isinstance(data, dict):
        raise ServiceError(f"{s.users_file}: expected a JSON object")
    return data


def people(s: Settings) -> dict[str, dict]:
    """The enabled people of the user file (name -> entry)."""
    users = _read_users(s).get("users", {})
    return {name: entry for name, entry in users.items()
            if isinstance(entry, dict) and not entry.get("disabled")}


def _secret_file(path: Path, size: int = 32) -> str:
    """The secret kept in ``path``, created random the first time."""
    if path.is_file():
        return path.read_text().strip()
    value = secrets.token_urlsafe(size)
    write_private(path, value + "\n")
    return value


def cookie_secret(s: Settings) -> str:
    """The secret that signs the dashboard's login cookies (kept across restarts, so a
    restart does not log everybody out)."""
    return _secret_file(s.run / "cookie.secret")


def prepare_users(s: Settings) -> dict[str, str]:
    """Complete the user file: the dashboard's API key (allowed to act for the person logged
    in), the ``ops`` key, and on loopback a first advisor and supervisor when nobody is in it.

    Returns the passwords created now (name -> password), to be shown once.
    """
    from decisions.users import hash_password

    data = _read_users(s)
    keys = data.setdefault("api_keys", {})
    key = _secret_file(s.dashboard_key_file)
    keys["dashboard"] = {"key": "sha256:" + hashlib.sha256(key.encode()).hexdigest(),
                         "role": "system", "act_for_users": True}
    keys.setdefault("ops", secrets.token_urlsafe(24))
    users = data.setdefault("users", {})
    created = {}
    if s.loopback and not any(isinstance(e, dict) and not e.get("disabled")
                              for e in users.values()):
        for name, role in FIRST_PEOPLE.items():
            created[name] = secrets.token_urlsafe(12)
            users[name] = {"password": hash_password(created[name]), "role": role,
                           "disabled": False}
        write_private(s.run / "first-logins.txt", "".join(
            f"{name} ({FIRST_PEOPLE[name]}): {pw}\n" for name, pw in created.items()))
    write_private(s.users_file, json.dumps(data, indent=2))
    return created


def tracking_htpasswd(s: Settings) -> str | None:
    """nginx's password file of the MLflow UI (SHA-512 crypt, which nginx checks through the
    system's crypt; the password is random, so no slower hash is needed): the user ``mlflow``,
    the password kept in ``tracking.password`` (mode 600). Returns the password when created
    now, None when the file exists."""
    if s.tracking_htpasswd.is_file():
        return None
    password = secrets.token_urlsafe(18)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                            capture_output=True, text=True, check=True).stdout.strip()
    write_private(s.run / "tracking.password", f"{TRACKING_USER}: {password}\n")
    # nginx's workers read it at each request, and run as another user when nginx is
    # started by root: readable (a hash of 144 random bits is not worth cracking)
    s.tracking_htpasswd.write_text(f"{TRACKING_USER}:{hashed}\n")
    return password


def self_signed(s: Settings, days: int = 30) -> tuple[Path, Path]:
    """A self-signed certificate and key (``run/tls/``) for the public name, loopback and
    localhost: for a trial only, browsers warn about it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(s.public_name)))
    except ValueError:
        names.append(x509.DNSName(s.public_name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, s.public_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = s.run / "tls" / "cert.pem", s.run / "tls" / "key.pem"
    write_private(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def open_doors(s: Settings, env: dict[str, str] | None = None) -> list[str]:
    """What would leave a door open beyond loopback (empty on loopback or when all is
    locked); each item says what to do."""
    if s.loopback:
        return []
    env = dict(os.environ if env is None else env)
    problems = []
    if s.login == "none":
        problems.append("the dashboard would have no login (--login none): use the user file "
                        "(--login users) or the bank's OIDC provider (--login oidc)")
    elif s.login == "oidc":
        missing = [name for name in OIDC_VARIABLES if not env.get(name)]
        if missing:
            problems.append(f"--login oidc needs {', '.join(missing)} (docs/guides/users.md)")
    if not people(s):
        problems.append(f"nobody can log in: {s.users_file} has no enabled person; add one "
                        f"with `scoring users add NAME --role supervisor --users-file "
                        f"{s.users_file}`")
    if not s.tls:
        problems.append("no TLS: passwords would cross the network in clear; give "
                        "--tls-cert and --tls-key (or --tls-self-signed for a trial)")
    for path in (s.tls_cert, s.tls_key):
        if path and not Path(path).is_file():
            problems.append(f"TLS file not found: {path}")
    return problems
