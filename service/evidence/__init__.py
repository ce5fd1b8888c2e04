"""Evidence core: pure cryptography for the log, with no database or HTTP.

- :mod:`.merkle`: RFC 9162 hashing, store-backed O(log n) proofs, verifiers.
- :mod:`.incremental`: the append-side frontier and the node rows to persist.
- :mod:`.records`: canonical bytes, chain hash, Merkle leaf and payload digest of a record.
- :mod:`.keys`: the Ed25519 key file and public key identity.
- :mod:`.signing`: signed checkpoints and the auditor's consistency check.
- :mod:`.bundle`: evidence bundles, written and verified offline.
"""
