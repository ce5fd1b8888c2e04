"""Evidence: signed checkpoints, Merkle proofs, verified replay and evidence bundles.

Pure core (no database, no HTTP; what an offline verifier needs):

- :mod:`.merkle`: RFC 9162 hashing, store-backed O(log n) proofs, verifiers.
- :mod:`.multiproof`: batched proofs and batch-of-leaves roots (replay, export).
- :mod:`.incremental`: the append-side frontier and the node rows to persist.
- the record format itself (canonical bytes, chain hash, Merkle leaf, payload digest)
  lives in :mod:`service.logformat`, shared with the service.
- :mod:`.keys`: the Ed25519 key file and public key identity.
- :mod:`.signing`: signed checkpoints and the auditor's consistency check.
- :mod:`.bundle`: evidence bundles, written and verified offline (:mod:`.bundle_anchor`
  for the incident anchor).

Service side (database, HTTP, CLI):

- :mod:`.models`, :mod:`.store`: ``merkle_nodes`` / ``merkle_state`` and the appender
  that makes the tree follow the log by seq; :mod:`.task`: the checkpointer task.
- :mod:`.checkpoints`, :mod:`.proofs`, :mod:`.api`: checkpoints and proofs over HTTP.
- :mod:`.replay`, :mod:`.exports`, :mod:`.state`, :mod:`.replay_api`: verified replay,
  evidence exports, state as of a time; :mod:`.selection` / :mod:`.incident_scope`
  turn a scope into rows.
- :mod:`.auditor`: ``custody verify --against-checkpoint``; :mod:`.cli`: client commands.
"""
