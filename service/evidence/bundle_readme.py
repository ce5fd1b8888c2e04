"""README.txt shipped inside every evidence bundle: how to verify it without Custody."""

README_TEXT = """\
Custody evidence bundle (format version 1)
==========================================

This archive is an excerpt of a tamper-evident audit log. Everything in it can be
checked with only this archive and the log's Ed25519 public key, which you must obtain
from a trusted channel (NOT from this archive). With Custody installed:

    custody verify-bundle THIS.zip --public-key custody.pub.pem

To verify by hand:

Members
-------
manifest.json    format, export scope, counts, key id, a copy of the checkpoint, anchor.
checkpoint.json  {"tree_size", "root_hash", "timestamp", "key_id", "signature"}.
records.ndjson   one log record per line:
                 {"hash": HEX, "record": {...}, "payload": {...}}   (payload optional)
proofs.ndjson    line i proves line i of records.ndjson:
                 {"seq", "leaf_index", "tree_size", "path": [HEX, ...]}
cosignatures.json  witnesses' cosignatures of the checkpoint, a list of
                 {"witness_key_id", "witness_public_key", "time", "signature"}: Ed25519
                 by the witness over "cosignature/v1\ntime <time>\n" followed by the
                 checkpoint's signed message (step 1). Trust only witness keys you got
                 from the witness itself:
                 custody verify-bundle THIS.zip --public-key ... --witness-key w.pub

Only the checkpoint is signed. manifest.json and README.txt are descriptive; what
makes the records trustworthy is steps 1-4 below, which need nothing from the manifest.

Hex is lowercase; SHA-256 means the 32-byte digest; || is byte concatenation;
JCS(x) is the RFC 8785 JSON Canonicalization Scheme encoding of x (for example the
`rfc8785` Python package).

1. The checkpoint signature
---------------------------
The signed message is these ASCII bytes, each line ending in a newline (0x0A):

    custody-checkpoint/v1
    <tree_size in decimal>
    <root_hash, 64 lowercase hex digits>
    <timestamp exactly as in checkpoint.json>

`signature` is base64 of a 64-byte Ed25519 signature over that message. With OpenSSL 3:

    printf 'custody-checkpoint/v1\\n%s\\n%s\\n%s\\n' SIZE ROOT TIMESTAMP > msg
    base64 -d <<< "SIGNATURE" > sig
    openssl pkeyutl -verify -pubin -inkey custody.pub.pem -rawin -in msg -sigfile sig

`key_id` is hex SHA-256 of the raw 32-byte public key; it must match your key:

    openssl pkey -pubin -in custody.pub.pem -outform DER | tail -c 32 | sha256sum

2. Each record
--------------
    hash == hex(SHA-256(bytes.fromhex(record["prev_hash"]) || JCS(record)))

`record` is hashed exactly as it appears (the `hash` field is outside it). It carries
its format version `v`: 1 (older logs, no `origin`) or 2, where `origin` says who put it
in the log: "server" (Custody itself; then `source` is "custody") or the id of the
ingest token that submitted it. Only server records speak for Custody. The record
with seq 1 has prev_hash = 64 zeros. When two consecutive lines have consecutive seqs
(k and k+1), record k+1's prev_hash must equal record k's hash. Records may have gaps
when the export was filtered (one actor, one incident); the proofs below still tie each
record to the signed tree.

3. Payloads
-----------
The erasable part of an event (attributes, raw) is not hashed into the record directly;
the record carries payload_digest. When `payload` is present:

    record["payload_digest"] ==
        hex(SHA-256(bytes.fromhex(salt) || JCS({"attributes": attributes, "raw": raw})))

A record without `payload` had its payload withheld from the export or erased (erasure
is itself a logged `event.erase` record); its hash and proof remain valid.

4. Inclusion in the signed tree (RFC 9162)
------------------------------------------
    leaf = SHA-256(0x00 || JCS(record)),   node = SHA-256(0x01 || left || right)
    leaf_index = seq - 1, tree_size = checkpoint tree_size

Verify `path` with the algorithm of RFC 9162 section 2.1.3.2:

    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0: FAIL
        if fn is odd or fn == sn:
            r = node(p, r)
            while fn is even and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    OK iff sn == 0 and r == root_hash

5. Counts
---------
manifest.json "counts" must equal the number of record lines, of payloads, and of
proof lines.

6. Anchor (incident bundles)
----------------------------
When manifest.json "anchor" has a "checkpoint" (the signed checkpoint of the log as it
stood when the incident opened; same format and key as step 1) and a
"consistency_path" (hex hashes): verify that checkpoint's signature as in step 1, then
the RFC 9162 section 2.1.4.2 consistency proof from its tree size to checkpoint.json's.
Every seq in "evidence_seqs" must be a record of this bundle (proven in step 4) and be
at most the anchor's tree_size: then those records were in the log, under that
signature, when the incident opened. "later_evidence_seqs" were linked afterwards and
are proven by step 4 only. "rule_id" and "rule_hash" name the rule version that fired.

Any failure means this archive is not a faithful excerpt of the signed log.
"""
