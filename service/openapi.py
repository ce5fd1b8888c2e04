"""The OpenAPI document a client generator and schemathesis accept: bearer security,
problem+json for every error the server sends, request bodies for every content type
`POST /v1/events` takes, hand-written summaries, tag descriptions and examples.

The routes stay thin: what FastAPI cannot infer from them is added here, in one place,
once per process (the document is cached on the app).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from service.problems import PROBLEM

PUBLIC = {"/healthz", "/readyz"}
IF_MATCH = r'^(\*|(W/)?"[0-9]{1,18}")$'

TAGS = [
    {"name": "log", "description": "Ingest events into the append-only, hash-chained log; "
     "read, filter and erase them; the chain head and its verification."},
    {"name": "evidence", "description": "Signed Merkle checkpoints, the signing public key, "
     "inclusion and consistency proofs."},
    {"name": "replay", "description": "Verified replay, offline-verifiable evidence bundles, "
     "and access or version state as of a time."},
    {"name": "incidents", "description": "Incidents opened by rules or by hand: triage "
     "(ETag / If-Match), comments, evidence, links, merges, reports, entities."},
    {"name": "runbooks", "description": "Runbook templates and each incident's runbook, "
     "step by step."},
    {"name": "rules", "description": "The deployed Sigma rules, their counters, ATLAS "
     "coverage, reload and backtests."},
    {"name": "search", "description": "Full-text search over the log (Custody's own "
     "audit.read records left out unless asked)."},
    {"name": "holds", "description": "Legal holds that keep events from erasure."},
    {"name": "snoozes", "description": "Silence a rule for a group or an entity until a time."},
    {"name": "tokens", "description": "API tokens (admin)."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]  # fmt: skip

SUMMARIES: dict[tuple[str, str], str] = {
    ("get", "/healthz"): "Liveness",
    ("get", "/v1/rules/status"): "Rules engine status: lag, sources, late events",
    ("post", "/otlp/v1/traces"): "Ingest OpenTelemetry traces (OTLP/HTTP)",
    ("post", "/otlp/v1/logs"): "Ingest OpenTelemetry logs (OTLP/HTTP)",
    ("post", "/v1/log/cosignatures"): "Submit a witness cosignature",
    ("get", "/v1/log/cosignatures"): "List witness cosignatures",
    ("get", "/v1/state/agent"): "What an agent could do, and for whom, at a time",
    ("post", "/v1/incidents/{incident_id}/improvements"): "Record an improvement item",
    ("get", "/v1/improvements"): "List improvement items",
    ("get", "/v1/improvements/{improvement_id}"): "Read one improvement item",
    ("post", "/v1/improvements/{improvement_id}/close"): "Close an improvement item",
    ("get", "/v1/incidents/{incident_id}/export"): "Export an incident (STIX 2.1 or MISP)",
    ("get", "/readyz"): "Readiness: database reachable and migrated",
    ("get", "/metrics"): "Prometheus metrics",
    ("post", "/v1/events"): "Ingest events",
    ("get", "/v1/events"): "List events",
    ("get", "/v1/events/{seq}"): "Read one event",
    ("post", "/v1/events/{seq}/erase"): "Erase an event's payload",
    ("get", "/v1/log/head"): "The chain head",
    ("get", "/v1/log/verify"): "Verify the hash chain",
    ("get", "/v1/tokens"): "List tokens",
    ("post", "/v1/tokens"): "Create a token",
    ("post", "/v1/tokens/{token_id}/revoke"): "Revoke a token",
    ("get", "/v1/log/public-key"): "The checkpoint signing public key",
    ("get", "/v1/log/checkpoints/latest"): "The latest signed checkpoint",
    ("get", "/v1/log/checkpoints"): "List signed checkpoints",
    ("post", "/v1/log/checkpoints"): "Sign a checkpoint now",
    ("get", "/v1/log/proofs/inclusion"): "Inclusion proof of a record",
    ("get", "/v1/log/proofs/consistency"): "Consistency proof between two tree sizes",
    ("get", "/v1/replay"): "Verified replay (NDJSON)",
    ("post", "/v1/exports"): "Export an evidence bundle",
    ("get", "/v1/state/access"): "Who held which permission at a time",
    ("get", "/v1/state/versions"): "Which version was deployed at a time",
    ("get", "/v1/incidents"): "List incidents",
    ("post", "/v1/incidents"): "Open an incident by hand",
    ("get", "/v1/incidents/stats"): "Incident counts and response times",
    ("get", "/v1/incidents/{incident_id}"): "Read an incident (with its ETag)",
    ("patch", "/v1/incidents/{incident_id}"): "Change an incident (If-Match required)",
    ("post", "/v1/incidents/{incident_id}/comments"): "Comment on an incident",
    ("get", "/v1/incidents/{incident_id}/timeline"): "An incident's timeline",
    ("get", "/v1/incidents/{incident_id}/events"): "An incident's evidence events",
    ("post", "/v1/incidents/{incident_id}/evidence"): "Attach events as evidence",
    ("get", "/v1/incidents/{incident_id}/report"): "Post-incident report (Markdown)",
    ("post", "/v1/incidents/{incident_id}/links"): "Link two incidents as related",
    ("post", "/v1/incidents/{incident_id}/merge"): "Merge an incident into another",
    ("get", "/v1/entities/{entity_type}/{value}"): "Incidents sharing an entity",
    ("get", "/v1/runbooks"): "List runbook templates",
    ("get", "/v1/runbooks/{runbook_id}"): "Read a runbook template",
    ("get", "/v1/incidents/{incident_id}/runbook"): "An incident's runbook and progress",
    ("post", "/v1/incidents/{incident_id}/runbook"): "Swap an incident's runbook",
    ("post", "/v1/incidents/{incident_id}/runbook/steps/{step_id}"): "Complete, skip or "
    "reopen a runbook step",
    ("get", "/v1/rules"): "List the deployed rules",
    ("get", "/v1/rules/coverage"): "MITRE ATLAS coverage (Navigator layer)",
    ("get", "/v1/rules/{rule_id}"): "Read a rule",
    ("post", "/v1/rules/reload"): "Reload the rules from disk",
    ("post", "/v1/rules/backtest"): "Backtest rules over past events",
    ("get", "/v1/search"): "Search the log",
    ("post", "/v1/holds"): "Place a legal hold",
    ("get", "/v1/holds"): "List legal holds",
    ("get", "/v1/holds/{hold_id}"): "Read a legal hold",
    ("post", "/v1/holds/{hold_id}/release"): "Release a legal hold",
    ("post", "/v1/snoozes"): "Snooze a rule",
    ("get", "/v1/snoozes"): "List snoozes",
    ("get", "/v1/snoozes/{snooze_id}"): "Read a snooze",
    ("post", "/v1/snoozes/{snooze_id}/release"): "Release a snooze",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. `errors` lists each bad field or item; some "
    "problems add members (`allowed` next states, `holds`, `steps`).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Invalid input"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "example": 422},
        "detail": {"type": "string", "example": "time: must be an RFC 3339 timestamp"},
        "instance": {"type": "string", "example": "/v1/events"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}

REASONS = {
    "400": "The request is malformed",
    "401": "No token, or an unknown, expired or revoked one (WWW-Authenticate: Bearer)",
    "403": "The token's scope does not allow this",
    "404": "No such resource",
    "409": "Conflicts with the current state (transition not allowed, on hold, duplicate)",
    "412": "If-Match names a version that is no longer current",
    "413": "The body is larger than the limit (after gzip decompression)",
    "415": "Content-Type or Content-Encoding not accepted",
    "422": "A field is invalid; `errors` names each one",
    "428": "If-Match is required",
    "429": "Rate limit reached (Retry-After says when to retry)",
    "503": "A backend is unavailable",
}

EVENT_EXAMPLE: dict[str, Any] = {
    "id": "b2c1",
    "time": "2026-11-30T12:00:00.123Z",
    "source": "inference-gateway",
    "action": "model.weights.download",
    "outcome": "success",
    "actor": {"type": "user", "id": "alice@example.com", "ip": "203.0.113.7"},
    "resource": {"type": "model", "id": "llm-prod", "version": "2026-11-01"},
    "request_id": "req-77",
    "attributes": {"bytes": 4294967296},
}

REQUEST_EXAMPLES: dict[tuple[str, str], Any] = {
    ("post", "/v1/incidents"): {"title": "Weights pulled at 3am", "severity": "high",
                                "assignee": "alice@example.com", "tags": ["atlas.aml.t0024"]},
    ("patch", "/v1/incidents/{incident_id}"): {"status": "acknowledged",
                                               "assignee": "alice@example.com"},
    ("post", "/v1/incidents/{incident_id}/comments"): {"body": "Paged the model owner"},
    ("post", "/v1/incidents/{incident_id}/evidence"): {"seqs": [41, 42]},
    ("post", "/v1/incidents/{incident_id}/links"): {"incident": "INC-9"},
    ("post", "/v1/incidents/{incident_id}/merge"): {"into": "INC-9"},
    ("post", "/v1/incidents/{incident_id}/runbook"): {
        "runbook_id": "model-exfiltration", "reason": "weights left the registry"},
    ("post", "/v1/incidents/{incident_id}/runbook/steps/{step_id}"): {
        "status": "done", "note": "Key revoked at 12:05", "evidence": [41]},
    ("post", "/v1/events/{seq}/erase"): {"reason": "data subject request DSR-118"},
    ("post", "/v1/tokens"): {"name": "gateway", "scope": "ingest", "source": "inference-gateway",
                             "expires_in_days": 90},
    ("post", "/v1/holds"): {"reason": "Litigation Acme v. Us", "actor": "alice@example.com",
                            "since": "2026-10-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"},
    ("post", "/v1/holds/{hold_id}/release"): {"reason": "case settled"},
    ("post", "/v1/snoozes/{snooze_id}/release"): {"reason": "maintenance over"},
    ("post", "/v1/exports"): {"incident": "INC-7"},
    ("post", "/v1/snoozes"): {"rule": "guardrail_deleted", "group": {"actor.id": "ci-bot"},
                              "until": "2026-12-31T00:00:00Z",
                              "reason": "planned guardrail migration"},
    ("post", "/v1/incidents/{incident_id}/improvements"): {
        "kind": "rule", "title": "Alert on bulk weight reads",
        "detail": "the first-download rule missed the second model"},
    ("post", "/v1/improvements/{improvement_id}/close"): {"status": "done",
                                                           "note": "rule merged"},
    ("post", "/v1/rules/backtest"): {"since": "2026-11-01T00:00:00Z",
                                     "until": "2026-12-01T00:00:00Z"},
}  # fmt: skip


PARAM_EXAMPLES: dict[str, Any] = {
    "incident_id": "INC-7",
    "seq": 1041,
    "hold_id": "HOLD-1",
    "snooze_id": "SNZ-1",
    "improvement_id": "IMP-1",
    "agent_id": "agent:support-bot",
    "token_id": "tok_3f9a2c1d5e6b7a80",
    "runbook_id": "model-exfiltration",
    "step_id": "cut-access",
    "rule_id": "07b2abcd-9463-4ed7-bc8d-914dcf26f852",
    "entity_type": "ip",
    "value": "203.0.113.7",
    "actor": "alice@example.com",
    "action": "model.*",
    "source": "inference-gateway",
    "resource_type": "model",
    "resource_id": "llm-prod",
    "since": "2026-11-01T00:00:00Z",
    "until": "2026-12-01T00:00:00Z",
    "at": "2026-11-30T12:00:00Z",
    "q": "weights",
    "status": "open",
    "severity": "high",
    "entity": "ip:203.0.113.7",
    "from_seq": 1,
    "to_seq": 1042,
    "first": 512,
    "second": 1042,
    "tree_size": 1042,
    "limit": 100,
    "after": 0,
}

_HASH = "9c1f" + "0" * 60
_CHECKPOINT = {
    "id": 3,
    "tree_size": 1042,
    "root_hash": _HASH,
    "key_id": "3d77" + "0" * 60,
    "timestamp": "2026-11-30T12:05:00.000000Z",
    "signature": "npmGW...==",
}
_RULE = {
    "id": "07b2abcd-9463-4ed7-bc8d-914dcf26f852",
    "name": "guardrail_deleted",
    "title": "Model guardrail deleted",
    "severity": "high",
    "tags": ["atlas.aml.t0015"],
    "runbook": "logging-guardrail-tampering",
    "kind": "detection",
    "emits": True,
    "file": "guardrail_deleted.yml",
    "content_hash": _HASH,
    "counters": {"matches": 2, "firings": 1, "last_fired": "2026-11-30T12:00:00Z"},
}

RESPONSE_EXAMPLES: dict[tuple[str, str], Any] = {
    ("post", "/otlp/v1/traces"): {"partialSuccess": {}},
    ("get", "/v1/rules/status"): {
        "cursor": 1040, "head": 1042, "lag_events": 2, "lag_seconds": 0.4,
        "sources": [{"source": "aws.cloudtrail", "watermark": "2026-11-30T11:55:00Z",
                     "events": 1000, "late": 3, "skewed": 0, "state": "active"}],
        "late_by_rule": [], "clock_skewed": 0, "warmup": False, "last_error": None},
    ("post", "/otlp/v1/logs"): {"partialSuccess": {}},
    ("post", "/v1/log/cosignatures"): {"witness": "ed25519:5b2c", "tree_size": 1042,
                                       "stored": True},
    ("get", "/healthz"): {"status": "ok"},
    ("get", "/readyz"): {"status": "ready"},
    ("get", "/metrics"): "custody_events_ingested_total 1042.0\n",
    ("get", "/v1/log/head"): {"seq": 1042, "hash": _HASH},
    ("get", "/v1/log/verify"): {"ok": True, "checked": 1042, "from_seq": 1, "to_seq": 1042,
                                "head_seq": 1042, "head_hash": _HASH, "first_bad_seq": None,
                                "reason": None},
    ("post", "/v1/events"): {"accepted": 1, "duplicates": 0, "rejected": 0, "first_seq": 1042,
                             "last_seq": 1042, "head_hash": _HASH, "errors": []},
    ("get", "/v1/tokens"): {"items": [{"id": "tok_3f9a2c1d5e6b7a80", "name": "gateway",
                                       "scope": "ingest", "source": "inference-gateway",
                                       "prefix": "cst_3f9a2c1d",
                                       "created_at": "2026-11-30T12:00:00Z",
                                       "expires_at": None, "revoked_at": None}],
                            "next_cursor": None},
    ("get", "/v1/log/public-key"): "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA...\n"
                                   "-----END PUBLIC KEY-----\n",
    ("get", "/v1/log/checkpoints/latest"): _CHECKPOINT,
    ("post", "/v1/log/checkpoints"): _CHECKPOINT,
    ("get", "/v1/log/checkpoints"): {"items": [_CHECKPOINT], "next_cursor": None},
    ("get", "/v1/runbooks"): {"items": [{"id": "model-exfiltration", "version": 1,
                                         "title": "Model or training-data exfiltration",
                                         "applies_to": ["atlas.aml.t0024"],
                                         "severity_min": None, "content_hash": _HASH,
                                         "steps": 12}], "next_cursor": None},
    ("get", "/v1/rules"): {"items": [_RULE], "next_cursor": None, "errors": [],
                           "loaded_at": "2026-11-30T12:00:00Z"},
    ("get", "/v1/rules/coverage"): {"name": "Custody rules", "domain": "atlas-atlas",
                                    "techniques": [{"techniqueID": "AML.T0015", "score": 1}]},
    ("post", "/v1/rules/reload"): {"rules": 33, "errors": [], "generation": 2},
    ("get", "/v1/snoozes"): {"items": [], "next_cursor": None},
}  # fmt: skip


def _events_body() -> dict[str, Any]:
    event = {"$ref": "#/components/schemas/EventIn"}
    return {
        "required": True,
        "description": 'One event, a JSON array of events, a CloudTrail `{"Records": [...]}` '
        "document or another adapter's format (`?format=`), or NDJSON; gzip with "
        "`Content-Encoding: gzip`. At most 10 MiB (decompressed) and 10,000 events.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        event,
                        {"type": "array", "items": event, "minItems": 1, "maxItems": 10_000},
                        {"$ref": "#/components/schemas/CloudTrailDocument"},
                    ]
                },
                "examples": {
                    "one": {"summary": "One event", "value": EVENT_EXAMPLE},
                    "batch": {"summary": "A batch", "value": [EVENT_EXAMPLE]},
                },
            },
            "application/x-ndjson": {
                "schema": {"type": "string", "description": "one JSON event per line"},
                "example": '{"time": "2026-11-30T12:00:00Z", "source": "gw", '
                '"action": "model.invoke"}\n',
            },
        },
    }


def _cloudtrail_schema() -> dict[str, Any]:
    return {
        "title": "CloudTrailDocument",
        "type": "object",
        "description": "An AWS CloudTrail log file; each record becomes an event.",
        "required": ["Records"],
        "properties": {"Records": {"type": "array", "items": {"type": "object"}}},
    }


def _errors_for(method: str, path: str, op: dict[str, Any]) -> list[str]:
    codes: list[str] = []
    if path not in PUBLIC:
        codes += ["401", "403", "429"]
    if "{" in path:
        codes.append("404")
    if op.get("parameters") or "requestBody" in op:
        codes.append("422")
    if method in ("post", "patch", "put", "delete"):
        codes += ["400", "409", "413", "415", "422"]
    if (method, path) == ("patch", "/v1/incidents/{incident_id}"):
        codes += ["412", "428"]
    if path in ("/readyz", "/v1/search"):
        codes.append("503")
    if path in ("/v1/incidents/{incident_id}/export", "/v1/improvements/{improvement_id}/close"):
        codes.append("409")  # TLP:RED is never exported; an item is closed once
    if path in ("/v1/replay", "/v1/exports", "/v1/log/cosignatures", "/v1/state/agent"):
        codes.append("404")  # a scope naming an unknown incident, a checkpoint not signed
    if (method == "post" and path.startswith("/v1/")) or path in ("/readyz",):
        codes.append("503")  # the database cannot take writes now (outages)
    return sorted(set(codes))


def _problem_response(code: str) -> dict[str, Any]:
    return {
        "description": REASONS[code],
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def build(app: FastAPI) -> dict[str, Any]:
    from service.auditlog.schemas import EventIn

    doc = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description="Errors are RFC 9457 `application/problem+json`. Authenticate with "
        "`Authorization: Bearer <token>` (`custody token create`).",
        routes=app.routes,
        tags=TAGS,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["CloudTrailDocument"] = _cloudtrail_schema()
    schemas["EventIn"] = copy.deepcopy(
        TypeAdapter(EventIn).json_schema(ref_template="#/components/schemas/{model}")
    )
    for name, sub in schemas["EventIn"].pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API token"}
    }
    doc["security"] = [{"bearer": []}]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            key = (method, path)
            op["summary"] = SUMMARIES.get(key, op.get("summary", ""))
            if path in PUBLIC:
                op["security"] = []
            if key == ("post", "/v1/events"):
                op["requestBody"] = _events_body()
            example = REQUEST_EXAMPLES.get(key)
            if example is not None and "requestBody" in op:
                op["requestBody"]["content"]["application/json"]["example"] = example
            for param in op.get("parameters", []):
                if param["name"] in PARAM_EXAMPLES and "example" not in param:
                    param["example"] = PARAM_EXAMPLES[param["name"]]
                if param.get("in") == "header" and param["name"].lower() == "if-match":
                    # Required in practice: without it the server answers 428.
                    param["required"] = True
                    param["schema"] = {"type": "string", "pattern": IF_MATCH,
                                       "description": 'the ETag read, e.g. "3", or *'}  # fmt: skip
                    param["example"] = '"1"'
            responses = op.setdefault("responses", {})
            if key == ("get", "/metrics"):
                responses["200"]["content"] = {
                    "text/plain": {"schema": {"type": "string"}},
                }
            if key in RESPONSE_EXAMPLES:
                ok = next(c for c in ("200", "201") if c in responses)
                content = responses[ok].setdefault("content", {})
                media = next(iter(content), "application/json")
                content.setdefault(media, {})["example"] = RESPONSE_EXAMPLES[key]

            for code in _errors_for(method, path, op):
                responses[code] = _problem_response(code)
    return doc


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
