"""`schemathesis run --checks all` against a live server, on both databases: the OpenAPI
document is what the server does (statuses, content types, constraints, Allow headers).

Bounded (few examples per operation) to stay fast; CUSTODY_ST_EXAMPLES=100 digs deeper.
The exceptions, in schemathesis.toml below, are what JSON Schema cannot state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.auth.schemas import Scope
from service.config import Settings

REPO = Path(__file__).resolve().parents[2]

STATE_DEPENDENT = [
    "GET /v1/replay", "POST /v1/exports", "POST /v1/holds", "POST /v1/snoozes",
    "POST /v1/rules/backtest", "GET /v1/incidents", "POST /v1/incidents", "POST /v1/tokens",
    "PATCH /v1/incidents/{incident_id}", "POST /v1/incidents/{incident_id}/evidence",
    "POST /v1/incidents/{incident_id}/links", "POST /v1/incidents/{incident_id}/merge",
    "POST /v1/incidents/{incident_id}/runbook/steps/{step_id}",
    "GET /v1/log/proofs/inclusion", "GET /v1/log/proofs/consistency",
    # A cosignature must sign a checkpoint this log signed, with a witness's real key.
    "POST /v1/log/cosignatures",
    # since must not be after at.
    "GET /v1/state/agent",
    # OTLP bodies follow the OTLP protobuf/JSON schema, which OpenAPI does not restate.
    "POST /otlp/v1/traces", "POST /otlp/v1/logs",
]  # fmt: skip

CONFIG = """
# Every check is on by default (the same as --checks all); these are the exceptions.

[checks.positive_data_acceptance]
# 412: a well-formed If-Match that names another version is refused by design.
expected-statuses = ["2xx", "401", "403", "404", "409", "412", "429"]

[checks.missing_required_header]
# If-Match is required: without it the server says so with 428 Precondition Required.
expected-statuses = ["400", "401", "403", "406", "415", "422", "428"]

# Ingest: valid per schema yet refused, by rules JSON Schema cannot state (an event needs a
# source unless the token is bound to one, server-only actions, I-JSON numbers; NDJSON is
# a string to the schema); and ?partial=true answers 200 listing the refused items.
[[operations]]
include-name = "POST /v1/events"
checks.positive_data_acceptance.enabled = false
checks.negative_data_rejection.enabled = false

# Valid shape, refused by state or by a rule across fields that JSON Schema cannot state:
# since before until, from_seq before to_seq, a hold needs one criterion, a snooze exactly
# one of group or entity, duplicate_of only with status duplicate, candidate rules must be
# valid Sigma YAML, only ingest tokens bind a source, cursors are opaque, seqs and tree
# sizes must exist in this log, an incident cannot be linked to or merged into itself.
[[operations]]
include-name-regex = "^({state_dependent})$"
checks.positive_data_acceptance.enabled = false
""".replace("{state_dependent}", "|".join(STATE_DEPENDENT))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        # Schemathesis sends bad tokens on purpose: the per-address failure throttle
        # (tested in tests/auth/test_throttle.py) must not turn later checks into 429s.
        update={"rate_limit_per_minute": 10**9, "ingest_rate_limit_per_minute": 10**9,
                "auth_failures_per_minute": 10**9, "auth_failure_burst": 10**9,
                "log_level": "ERROR"}
    )  # fmt: skip


@pytest.mark.slow
def test_schemathesis_finds_nothing(server: str, make_token: Any, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    token = make_token(Scope.admin)
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config),
        "run", f"{server}/openapi.json", "--no-color",
        "-H", f"Authorization: Bearer {token}",
        "--max-examples", os.environ.get("CUSTODY_ST_EXAMPLES", "5"),
        "--phases", "examples,coverage,fuzzing", "--seed", "1", "-w", "1",
        # Revoking the very token the run uses would turn the rest of the run into 401s.
        "--exclude-path", "/v1/tokens/{token_id}/revoke",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.st_hooks", "PYTHONPATH": str(REPO)}
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
