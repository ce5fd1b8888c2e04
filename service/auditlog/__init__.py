"""The append-only, hash-chained event log: ingest, storage, reads and verification."""
