"""Signed checkpoints of the chain's head, kept outside the database.

After every write (and every verification that finds the chain whole) the service signs
``{"records": N, "head": <hash of record N>, "at": <UTC time>}`` with an Ed25519 key read from
a file (``DECISIONS_SIGNING_KEY``, created 0600 on first start) and appends it to a file of
JSON lines (``DECISIONS_CHECKPOINT_FILE``) and to the service's log. Whoever deletes the newest
records, and even rewrites them, leaves a chain that no longer reaches the last checkpoint:
``/decisions/verify`` names the records missing at the tail, and the service refuses to write
on a chain shorter than its last checkpoint (signed tree heads, as Certificate Transparency
keeps them). Someone who holds the key can sign anew: keep the key readable by the service's
user only, and copies of the log elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from decisions.record import Verification, canonical, now

log = logging.getLogger("decisions.checkpoint")


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a time, signed: ``records`` records, the last one's hash."""

    records: int
    head: str
    at: str
    key_id: str
    signature: str

    def signed_text(self) -> bytes:
        return _signed_text(self.records, self.head, self.at)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        return cls(int(data["records"]), str(data["head"]), str(data["at"]),
                   str(data["key_id"]), str(data["signature"]))


def _signed_text(records: int, head: str, at: str) -> bytes:
    return canonical({"records": records, "head": head, "at": at}).encode()


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (SHA-256 of its raw bytes, 16 hex digits)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


def load_or_create_key(path: str | Path) -> Ed25519PrivateKey:
    """The signing key at ``path``; created (mode 0600) when absent."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it meanwhile
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            log.warning("created the checkpoint signing key %s (keep it readable by the "
                        "service only)", path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise ValueError(f"signing key {path}: cannot read it as a PEM private key "
                         f"({err})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"signing key {path}: not an Ed25519 key")
    return key


def sign(key: Ed25519PrivateKey, records: int, head: str, at: str | None = None) -> Checkpoint:
    """A checkpoint of ``records`` records ending with ``head``, signed now (or ``at``)."""
    at = at or now()
    signature = key.sign(_signed_text(records, head, at))
    return Checkpoint(records, head, at, key_id(key.public_key()),
                      base64.b64encode(signature).decode())


def signature_ok(public: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    """True when ``checkpoint`` was signed by the private half of ``public``."""
    try:
        public.verify(base64.b64decode(checkpoint.signature), checkpoint.signed_text())
    except (InvalidSignature, ValueError):
        return False
    return True


def last(path: str | Path) -> Checkpoint | None:
    """The last checkpoint of the file (read from its end), or None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65_536))
        lines = [line for line in f.read().splitlines() if line.strip()]
    for line in reversed(lines):
        try:
            return Checkpoint.from_json(line.decode())
        except (ValueError, KeyError):  # a torn last line: take the one before
            continue
    return None


class Checkpointer:
    """Signs the chain's head and appends it to the file and the log; remembers the last."""

    def __init__(self, key_path: str | Path, file: str | Path) -> None:
        self.key = load_or_create_key(key_path)
        self.public = self.key.public_key()
        self.file = Path(file)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.last = last(self.file)

    def write(self, records: int, head: str) -> Checkpoint:
        """Sign and store a checkpoint of the chain's head."""
        checkpoint = sign(self.key, records, head)
        line = checkpoint.to_json()
        with self.file.open("a") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        log.info("checkpoint %s", line)
        self.last = checkpoint
        return checkpoint

    def refusal(self, head_id: int, head_hash: str | None) -> str | None:
        """Why a write must not go on a chain whose head is (``head_id``, ``head_hash``):
        it is shorter than the last checkpoint, or ends elsewhere; None when it may."""
        cp = self.last
        if cp is None or head_id > cp.records:
            return None
        if head_id < cp.records:
            return (f"the decision record is shorter than its last checkpoint ({cp.records} "
                    f"records at {cp.at}): records {head_id + 1} to {cp.records} are missing; "
                    "nothing is written until a supervisor has looked (scoring decisions "
                    "verify)")
        if head_hash != cp.head:
            return (f"record {head_id} is not the one of the last checkpoint ({cp.at}): the "
                    "tail of the record was replaced; nothing is written until a "
                    "supervisor has looked (scoring decisions verify)")
        return None


def against(v: Verification, cp: Checkpoint | None, public: Ed25519PublicKey,
            hash_at: Callable[[int], str | None]) -> Verification:
    """The chain's verification ``v`` compared with the checkpoint ``cp``: records missing
    at the tail, a tail that was replaced, or a checkpoint that the key did not sign.
    ``hash_at(id)`` gives the stored hash of record ``id`` (None when absent)."""
    if cp is None or not v.ok:
        return v
    if not signature_ok(public, cp):
        return replace(v, problem=f"the last checkpoint ({cp.at}) does not carry the "
                       f"signing key's signature (key {cp.key_id}, expected "
                       f"{key_id(public)}): the checkpoint file was altered")
    if v.records < cp.records:
        first = v.records + 1
        return replace(v, broken_id=first, missing=(first, cp.records),
                       problem=f"records {first} to {cp.records} are missing at the tail: "
                       f"the last checkpoint, signed at {cp.at}, counted {cp.records} "
                       f"records and the chain has {v.records}")
    if hash_at(cp.records) != cp.head:
        return replace(v, broken_id=cp.records,
                       problem=f"record {cp.records} is not the one the last checkpoint "
                       f"({cp.at}) signed: the chain was rewritten from there on")
    return v
