"""Write evidence bundles (the format is described in :mod:`bundle_format`).

``verify_bundle`` and ``BundleReport`` are re-exported here so callers import one module.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from service.evidence.bundle_format import (
    CHECKPOINT,
    COSIGNATURES,
    FORMAT_NAME,
    FORMAT_VERSION,
    HASHING,
    MANIFEST,
    PROOFS,
    README,
    RECORDS,
    BundleRecord,
    InclusionProof,
    Payload,
    dumps_line,
)
from service.evidence.bundle_readme import README_TEXT
from service.evidence.bundle_verify import BundleReport, verify_bundle
from service.evidence.cosign import Cosignature
from service.evidence.keys import key_fingerprint, load_public_key
from service.evidence.signing import Checkpoint, format_timestamp, verify_checkpoint

__all__ = [
    "BundleRecord",
    "BundleReport",
    "InclusionProof",
    "Payload",
    "verify_bundle",
    "write_bundle",
]

_SPOOL_LIMIT = 16 * 1024 * 1024


def _record_entry(entry: BundleRecord) -> dict[str, Any]:
    line: dict[str, Any] = {"hash": entry.hash, "record": entry.record}
    if entry.payload is not None:
        line["payload"] = {
            "attributes": entry.payload.attributes,
            "raw": entry.payload.raw,
            "salt": entry.payload.salt.hex(),
        }
    return line


def write_bundle(
    out: IO[bytes],
    records: Iterable[BundleRecord],
    proofs: Iterable[InclusionProof],
    checkpoint: Checkpoint,
    public_key_pem: bytes | str,
    scope: Mapping[str, Any],
    *,
    anchor: Mapping[str, Any] | None = None,
    created_at: datetime | None = None,
    cosignatures: Sequence[Cosignature] = (),
) -> dict[str, Any]:
    """Stream a bundle into ``out``; return the manifest written.

    ``records`` (increasing seq) and ``proofs`` are consumed in lockstep, one proof per
    record against ``checkpoint``'s tree size, so exports of any length run in constant
    memory. Inconsistent inputs raise ``ValueError``: a writer bug must not produce a
    bundle that fails verification in a third party's hands. ``out`` needs no seeking.
    """
    public_key = load_public_key(public_key_pem)
    verify_checkpoint(public_key, checkpoint)  # never ship a bundle that cannot verify
    counts = {"records": 0, "payloads": 0, "proofs": 0}
    first_seq: int | None = None
    last_seq = 0
    with (
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        tempfile.SpooledTemporaryFile(_SPOOL_LIMIT) as proof_lines,
    ):
        # zipfile writes one member at a time, so proofs are spooled while records stream.
        with archive.open(RECORDS, "w", force_zip64=True) as record_lines:
            for entry, proof in zip(records, proofs, strict=True):
                seq = entry.seq
                if seq <= last_seq:
                    raise ValueError(f"records must be in increasing seq order (seq {seq})")
                if proof.leaf_index != seq - 1 or proof.tree_size != checkpoint.tree_size:
                    raise ValueError(f"proof for seq {seq} is not against the checkpoint")
                record_lines.write(dumps_line(_record_entry(entry)))
                proof_lines.write(
                    dumps_line(
                        {
                            "seq": seq,
                            "leaf_index": proof.leaf_index,
                            "tree_size": proof.tree_size,
                            "path": [node.hex() for node in proof.path],
                        }
                    )
                )
                first_seq = seq if first_seq is None else first_seq
                last_seq = seq
                counts["records"] += 1
                counts["proofs"] += 1
                counts["payloads"] += entry.payload is not None
        proof_lines.seek(0)
        with archive.open(PROOFS, "w", force_zip64=True) as member:
            shutil.copyfileobj(proof_lines, member)
        archive.writestr(CHECKPOINT, dumps_line(checkpoint.to_dict()))
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created_at": format_timestamp(created_at or datetime.now(UTC)),
            "scope": dict(scope),
            "counts": counts,
            "seq_range": None if first_seq is None else {"first": first_seq, "last": last_seq},
            "key": {"algorithm": "Ed25519", "key_id": key_fingerprint(public_key)},
            "checkpoint": checkpoint.to_dict(),
            "anchor": None if anchor is None else dict(anchor),
            "hashing": HASHING,
        }
        archive.writestr(MANIFEST, dumps_line(manifest))
        archive.writestr(README, README_TEXT)
        archive.writestr(COSIGNATURES, dumps_line([c.to_dict() for c in cosignatures]))
    return manifest
