"""Real SigmaHQ rules and vendor records for the vendor-logsource tests.

The three rules in tests/fixtures/real/sigma are SigmaHQ's files, unmodified (provenance in
tests/fixtures/real/SOURCES.md). The CloudTrail records are real ones from the fixtures; a
guardrail deletion or update is the real Bedrock record with only what names the call
changed (eventName, requestParameters, ids), since no real sample of those calls exists.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from service.adapters import normalize

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
SIGMA = REAL / "sigma"
GUARDRAIL_DELETED = "59b70e4d-dd17-44a9-b740-acf07ae3eb6a"
GUARDRAIL_UPDATED = "1c722651-254a-4b04-a9f4-99b62a2d0a1f"
BACKDOOR_KEYS = "0a5177f4-6ca9-44c2-aacf-d3f3d8b6e4d2"


def bedrock_invoke() -> dict[str, Any]:
    """A real Bedrock InvokeModel CloudTrail record (IAM user `himan`)."""
    record: dict[str, Any] = json.loads(
        (REAL / "cloudtrail-bedrock" / "sumologic_doc_bedrock_invokemodel.json").read_text()
    )
    return record


def bedrock_call(call: str, seconds: int = 0, **params: Any) -> dict[str, Any]:
    """The real Bedrock record turned into another Bedrock control-plane call."""
    record = copy.deepcopy(bedrock_invoke())
    record["eventName"] = call
    record["readOnly"] = False
    record["requestParameters"] = params
    record["eventID"] = f"{call}-{seconds}"
    record["eventTime"] = f"2024-10-01T11:{50 + seconds // 60:02d}:{seconds % 60:02d}Z"
    record["tlsDetails"]["clientProvidedHostHeader"] = "bedrock.us-west-2.amazonaws.com"
    return record


def iam_admin_user() -> list[dict[str, Any]]:
    """Real Stratus detonation, in file order: AttachUserPolicy, CreateAccessKey, CreateUser
    (all by christophe, for malicious-iam-user)."""
    records: list[dict[str, Any]] = json.loads(
        (REAL / "stratus" / "aws.persistence.iam-create-admin-user.json").read_text()
    )
    return records


def events(records: list[dict[str, Any]], first_seq: int = 1) -> list[dict[str, Any]]:
    """Records through the real adapters, numbered like stored events."""
    out = normalize(records)
    for seq, event in enumerate(out, start=first_seq):
        event["seq"] = seq
    return out
