"""Offline verification of an evidence bundle with nothing but the bundle and a public key.

Checks, stopping at the first failure (whose reason names the seq and the broken
property): zip members exactly the expected ones (no extra, duplicate, absolute, ``..``,
link or directory member), each present once; checkpoint well-formed and signed by the
given key; manifest consistent with it; per record, in order: the hash recomputed from
JCS bytes, the chain link to the previous line when seqs are consecutive, the payload
digest when the payload is present, the inclusion proof up to the signed root; then the
manifest counts, and the optional anchor (see :mod:`bundle_anchor`).

Nothing is extracted and the records are streamed line by line, each line capped, so a
hostile bundle costs bounded memory however large its members claim to be.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.evidence.bundle_anchor import AnchorFailure, evidence_seqs, verify_anchor
from service.evidence.bundle_format import (
    CHECKPOINT,
    COSIGNATURES,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    PROOFS,
    README,
    RECORDS,
    REQUIRED_MEMBERS,
    loads_strict,
)
from service.evidence.cosign import Cosignature, verify_cosignature
from service.evidence.errors import EvidenceError
from service.evidence.keyring import load_public_keys
from service.evidence.keys import key_fingerprint
from service.evidence.merkle import verify_inclusion
from service.evidence.signing import Checkpoint, verify_with_keyring
from service.logformat import (
    GENESIS_PREV_HASH,
    NotIJSON,
    canonical_json,
    chain_hash,
    leaf_hash,
    payload_body,
    payload_digest,
    shape_problem,
)

MAX_JSON_MEMBER = 16 * 1024 * 1024
# A record line holds at most 64 KiB of attributes and 256 KiB of raw payload; JSON
# escaping can grow that a few times, never to 4 MiB. A proof line is ~70 hashes at most.
MAX_RECORD_LINE = 4 * 1024 * 1024
MAX_PROOF_LINE = 64 * 1024
ALLOWED_MEMBERS = frozenset({*REQUIRED_MEMBERS, README, COSIGNATURES})
_S_IFMT, _S_IFREG = 0o170000, 0o100000
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})*")


@dataclass(frozen=True, slots=True)
class BundleReport:
    """Outcome of :func:`verify_bundle`. Counts cover what was verified before any failure."""

    ok: bool
    failure: str | None
    records: int
    payloads_checked: int
    proofs_checked: int
    chain_links_checked: int
    tree_size: int | None = None
    root_hash: str | None = None
    key_id: str | None = None
    anchor: str | None = None
    witnesses: int = 0


class _Failure(Exception):
    """Internal: carries the first failure's reason out of nested checks."""


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise _Failure(reason)


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


class _Verifier:
    def __init__(
        self,
        archive: zipfile.ZipFile,
        public_key_pem: bytes | str,
        witness_keys: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        self.archive = archive
        self.public_key_pem = public_key_pem
        self.witness_keys = list(witness_keys)
        self.witnessed = 0
        self.records = self.payloads = self.proofs = self.links = 0
        self.checkpoint: Checkpoint | None = None
        self.evidence: set[int] = set()
        self.found: set[int] = set()
        self.anchor: str | None = None
        self.keys: list[Ed25519PublicKey] = []

    def run(self) -> None:
        self._members()
        names = Counter(self.archive.namelist())
        for name in REQUIRED_MEMBERS:
            _require(name in names, f"zip member missing: {name}")
            _require(names[name] == 1, f"zip member duplicated: {name}")
        manifest = self._json_member(MANIFEST)
        _require(isinstance(manifest, dict), "manifest.json is not a JSON object")
        _require(
            manifest.get("format") == FORMAT_NAME
            and manifest.get("format_version") == FORMAT_VERSION,
            f"manifest.json: not a {FORMAT_NAME} version {FORMAT_VERSION}",
        )
        checkpoint = self._checkpoint()
        _require(
            manifest.get("checkpoint") == checkpoint.to_dict(),
            "manifest checkpoint differs from checkpoint.json",
        )
        self._cosignatures(checkpoint)
        self.evidence = evidence_seqs(manifest.get("anchor"))
        self._records_and_proofs(checkpoint)
        self.anchor = verify_anchor(manifest.get("anchor"), checkpoint, self.keys, self.found)
        expected = {"records": self.records, "payloads": self.payloads, "proofs": self.proofs}
        counts = manifest.get("counts")
        if counts != expected:
            claimed = counts if isinstance(counts, dict) else {}
            diffs = ", ".join(
                f"{key}: manifest {claimed.get(key)!r}, bundle {value}"
                for key, value in expected.items()
                if claimed.get(key) != value
            )
            raise _Failure(f"manifest count mismatch ({diffs or 'malformed counts'})")

    def _members(self) -> None:
        """Refuse any member a careless extractor would put outside the current directory
        or that is not part of the format, before reading a byte of content."""
        seen: set[str] = set()
        for info in self.archive.infolist():
            name = info.orig_filename  # before zipfile's own clean-up hides a trick
            shown = repr(name)
            _require(
                not name.startswith(("/", "\\")) and not re.match(r"[A-Za-z]:", name),
                f"zip member {shown}: absolute path",
            )
            _require(".." not in re.split(r"[/\\]", name), f"zip member {shown}: '..' in its path")
            _require(not info.is_dir(), f"zip member {shown}: a directory")
            mode = info.external_attr >> 16
            _require(
                (mode & _S_IFMT) in (0, _S_IFREG),  # 0: written where zip has no file types
                f"zip member {shown}: a link or special file, not a regular file",
            )
            _require(name in ALLOWED_MEMBERS, f"unexpected zip member: {shown}")
            _require(name not in seen, f"zip member duplicated: {name}")
            seen.add(name)

    def _cosignatures(self, checkpoint: Checkpoint) -> None:
        """Each witness key the verifier trusts must have cosigned checkpoint.json."""
        if not self.witness_keys:
            return
        names = self.archive.namelist()
        _require(COSIGNATURES in names, f"{COSIGNATURES} missing: the checkpoint is not witnessed")
        listed = self._json_member(COSIGNATURES)
        _require(isinstance(listed, list), f"{COSIGNATURES} is not a JSON list")
        by_witness: dict[str, Cosignature] = {}
        for entry in listed:
            try:
                found = Cosignature.from_dict(entry)
            except EvidenceError as exc:
                raise _Failure(f"{COSIGNATURES}: {exc}") from None
            by_witness.setdefault(found.witness_key_id, found)
        for key in self.witness_keys:
            key_id = key_fingerprint(key)
            cosignature = by_witness.get(key_id)
            _require(
                cosignature is not None,
                f"checkpoint is not cosigned by witness {key_id[:16]}",
            )
            assert cosignature is not None
            try:
                verify_cosignature(cosignature, checkpoint, witness=key)
            except EvidenceError as exc:
                raise _Failure(str(exc)) from None
            self.witnessed += 1

    def _json_member(self, name: str) -> Any:
        _require(self.archive.getinfo(name).file_size <= MAX_JSON_MEMBER, f"{name} is too large")
        try:
            return loads_strict(self.archive.read(name))
        except ValueError as exc:  # also UnicodeDecodeError and JSONDecodeError
            raise _Failure(f"{name} is not valid JSON: {exc}") from None

    def _checkpoint(self) -> Checkpoint:
        data = self._json_member(CHECKPOINT)
        try:
            checkpoint = Checkpoint.from_dict(data)
        except EvidenceError as exc:
            raise _Failure(f"checkpoint.json: {exc}") from None
        try:
            self.keys = load_public_keys(self.public_key_pem)
            verify_with_keyring(self.keys, checkpoint)
        except EvidenceError as exc:
            raise _Failure(str(exc)) from None
        self.checkpoint = checkpoint
        return checkpoint

    def _records_and_proofs(self, checkpoint: Checkpoint) -> None:
        previous: tuple[int, str] | None = None  # (seq, hash) of the line before
        with self.archive.open(RECORDS) as records, self.archive.open(PROOFS) as proofs:
            lines = zip_longest(
                _lines(records, RECORDS, MAX_RECORD_LINE), _lines(proofs, PROOFS, MAX_PROOF_LINE)
            )
            for number, (record_line, proof_line) in enumerate(lines, start=1):
                if record_line is None:
                    raise _Failure(f"{PROOFS} has more lines than {RECORDS}")
                if proof_line is None:
                    raise _Failure(f"{RECORDS} has more lines than {PROOFS}")
                seq, record_hash, leaf = self._record(number, record_line, previous)
                self._proof(number, seq, leaf, proof_line, checkpoint)
                previous = (seq, record_hash)

    def _record(
        self, number: int, line: bytes, previous: tuple[int, str] | None
    ) -> tuple[int, str, bytes]:
        """Check one record line; return its seq, hash and Merkle leaf hash."""
        where = f"{RECORDS} line {number}"
        entry = _parse_line(line, where)
        _require(isinstance(entry, dict), f"{where}: not a JSON object")
        _require(
            set(entry) in ({"hash", "record"}, {"hash", "record", "payload"}),
            f"{where}: unexpected fields",
        )
        record, claimed = entry["record"], entry["hash"]
        _require(isinstance(record, dict) and _is_hex64(claimed), f"{where}: malformed entry")
        seq = record.get("seq")
        _require(type(seq) is int and seq >= 1, f"{where}: record seq is not a positive integer")
        _require(previous is None or seq > previous[0], f"record seq {seq}: out of order in bundle")
        prev_hash = record.get("prev_hash")
        _require(_is_hex64(prev_hash), f"record seq {seq}: prev_hash is not 64 hex digits")
        try:
            canonical_record = canonical_json(record)
        except NotIJSON as exc:
            raise _Failure(f"record seq {seq}: not canonicalizable JSON ({exc})") from None
        _require(
            chain_hash(prev_hash, canonical_record) == claimed,
            f"record seq {seq}: hash does not match its content",
        )
        problem = shape_problem(record)
        _require(problem is None, f"record seq {seq}: malformed record: {problem}")
        if seq == 1:
            _require(
                prev_hash == GENESIS_PREV_HASH, "record seq 1: prev_hash is not the genesis value"
            )
        if previous is not None and previous[0] == seq - 1:
            _require(
                prev_hash == previous[1],
                f"record seq {seq}: prev_hash does not link to record seq {seq - 1}",
            )
            self.links += 1
        if "payload" in entry:
            self._payload(seq, record, entry["payload"])
        self.records += 1
        if seq in self.evidence:
            self.found.add(seq)
        return seq, claimed, leaf_hash(canonical_record)

    def _payload(self, seq: int, record: dict[str, Any], payload: Any) -> None:
        _require(
            isinstance(payload, dict)
            and set(payload) == {"attributes", "raw", "salt"}
            and isinstance(payload["salt"], str)
            and _HEX.fullmatch(payload["salt"]) is not None,
            f"record seq {seq}: malformed payload",
        )
        try:
            body = payload_body(payload["attributes"], payload["raw"])
            digest = payload_digest(bytes.fromhex(payload["salt"]), body)
        except NotIJSON as exc:
            raise _Failure(
                f"record seq {seq}: payload is not canonicalizable JSON ({exc})"
            ) from None
        _require(
            digest == record.get("payload_digest"),
            f"record seq {seq}: payload does not match payload_digest",
        )
        self.payloads += 1

    def _proof(
        self, number: int, seq: int, leaf: bytes, line: bytes, checkpoint: Checkpoint
    ) -> None:
        where = f"{PROOFS} line {number}"
        proof = _parse_line(line, where)
        _require(
            isinstance(proof, dict)
            and set(proof) == {"seq", "leaf_index", "tree_size", "path"}
            and all(type(proof[name]) is int for name in ("seq", "leaf_index", "tree_size"))
            and isinstance(proof["path"], list)
            and all(_is_hex64(node) for node in proof["path"]),
            f"{where}: malformed proof",
        )
        _require(
            proof["seq"] == seq, f"{where}: proof is for seq {proof['seq']!r}, expected seq {seq}"
        )
        _require(
            proof["leaf_index"] == seq - 1, f"record seq {seq}: proof leaf_index is not seq - 1"
        )
        _require(
            proof["tree_size"] == checkpoint.tree_size,
            f"record seq {seq}: proof is for tree size {proof['tree_size']!r}, "
            f"the checkpoint for {checkpoint.tree_size}",
        )
        _require(seq <= checkpoint.tree_size, f"record seq {seq}: not covered by the checkpoint")
        path = [bytes.fromhex(node) for node in proof["path"]]
        _require(
            verify_inclusion(leaf, seq - 1, checkpoint.tree_size, path, checkpoint.root_hash_bytes),
            f"record seq {seq}: inclusion proof does not lead to the checkpoint root",
        )
        self.proofs += 1


def _lines(stream: IO[bytes], name: str, cap: int) -> Any:
    number = 0
    while line := stream.readline(cap + 1):
        number += 1
        _require(len(line) <= cap, f"{name} line {number}: longer than {cap} bytes")
        yield line


def _parse_line(line: bytes, where: str) -> Any:
    try:
        return loads_strict(line)
    except ValueError as exc:
        raise _Failure(f"{where}: not valid JSON ({exc})") from None


def verify_bundle(
    source: str | os.PathLike[str] | IO[bytes],
    public_key_pem: bytes | str,
    witness_keys: Sequence[Ed25519PublicKey] = (),
) -> BundleReport:
    """Verify a bundle file (path or binary file object) against trusted public keys (a
    keyring), and, for each of ``witness_keys``, a cosignature of its checkpoint.

    Never raises for bad bundle content: every problem is the report's ``failure``.
    """
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        return BundleReport(False, f"not a readable zip file: {exc}", 0, 0, 0, 0)
    with archive:
        verifier = _Verifier(archive, public_key_pem, witness_keys)
        failure: str | None = None
        try:
            verifier.run()
        except (_Failure, AnchorFailure) as exc:
            failure = str(exc)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:  # e.g. a corrupted member
            failure = f"corrupted zip member: {exc}"
    checkpoint = verifier.checkpoint
    return BundleReport(
        ok=failure is None,
        failure=failure,
        records=verifier.records,
        payloads_checked=verifier.payloads,
        proofs_checked=verifier.proofs,
        chain_links_checked=verifier.links,
        tree_size=checkpoint.tree_size if checkpoint else None,
        root_hash=checkpoint.root_hash if checkpoint else None,
        key_id=checkpoint.key_id if checkpoint else None,
        anchor=verifier.anchor,
        witnesses=verifier.witnessed,
    )
