"""`custody witness`: what an auditor runs, with its own Ed25519 key, to witness the log.

One run: fetch the latest checkpoint; check it carries the log's signature (a keyring the
auditor got through a trusted channel); check, with an RFC 9162 consistency proof from
the server, that it extends the last checkpoint this witness cosigned (kept in a state
file the witness owns); only then cosign it and send the cosignature back. A log that
rewrote or truncated its history, or shows this witness a different one than before,
gets a refusal (exit 1) and the witness's state does not move. Run it from cron, or with
``--every``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.evidence.cosign import cosign
from service.evidence.errors import EvidenceError, InconsistentCheckpointsError
from service.evidence.keyring import load_public_keys
from service.evidence.keys import load_or_create_key
from service.evidence.merkle import verify_consistency
from service.evidence.signing import Checkpoint, verify_with_keyring

_FIELDS = ("tree_size", "root_hash", "timestamp", "key_id", "signature")


class WitnessRefusal(Exception):
    """The witness will not cosign; the message says why."""


@dataclass(frozen=True, slots=True)
class Witnessed:
    checkpoint: Checkpoint
    previous_size: int | None


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    if response.status_code != 200:
        raise WitnessRefusal(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")
    return response.json()


def read_state(path: Path) -> Checkpoint | None:
    try:
        return Checkpoint.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def write_state(path: Path, checkpoint: Checkpoint) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(checkpoint.to_dict(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def check_extension(client: httpx.Client, old: Checkpoint, new: Checkpoint) -> None:
    """Raise InconsistentCheckpointsError unless ``new`` extends ``old`` (proof fetched
    from the server, checked against the two signed roots only)."""
    m, n = old.tree_size, new.tree_size
    if n < m:
        raise InconsistentCheckpointsError(f"the log shrank from {m} to {n} records")
    proof: list[bytes] = []
    if 0 < m < n:
        body = _get(client, "/v1/log/proofs/consistency", first=m, second=n)
        try:
            proof = [bytes.fromhex(node) for node in body["consistency_path"]]
        except (KeyError, TypeError, ValueError):
            raise InconsistentCheckpointsError("malformed consistency proof") from None
    if not verify_consistency(m, n, old.root_hash_bytes, new.root_hash_bytes, proof):
        raise InconsistentCheckpointsError(
            f"checkpoint of tree size {n} is not a consistent extension of the one this "
            f"witness cosigned (tree size {m}, root {old.root_hash})"
        )


def witness_once(
    client: httpx.Client, *, key_path: Path, log_keys_pem: bytes, state_path: Path
) -> Witnessed:
    """One witnessing round; WitnessRefusal (nothing cosigned) if anything is off."""
    key = load_or_create_key(key_path)
    log_keys = load_public_keys(log_keys_pem)
    latest = _get(client, "/v1/log/checkpoints/latest")
    try:
        checkpoint = Checkpoint.from_dict({f: latest.get(f) for f in _FIELDS})
        verify_with_keyring(log_keys, checkpoint)
    except EvidenceError as exc:
        raise WitnessRefusal(f"latest checkpoint: {exc}") from None
    previous = read_state(state_path)
    if previous is not None:
        try:
            check_extension(client, previous, checkpoint)
        except InconsistentCheckpointsError as exc:
            raise WitnessRefusal(str(exc)) from None
    cosignature = cosign(key, checkpoint, int(time.time()))
    write_state(state_path, checkpoint)  # verified: this is what the witness has seen
    response = client.post(
        "/v1/log/cosignatures",
        json={"checkpoint": checkpoint.to_dict(), "cosignature": cosignature.to_dict()},
    )
    if response.status_code not in (200, 201):
        raise WitnessRefusal(
            f"the log did not take the cosignature: HTTP {response.status_code} "
            f"{response.text[:200]}"
        )
    return Witnessed(checkpoint, None if previous is None else previous.tree_size)
