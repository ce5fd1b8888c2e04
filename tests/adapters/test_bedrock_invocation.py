"""Bedrock model invocation logs: tokens, guardrail verdicts, and no prompt leakage."""

from __future__ import annotations

import orjson

from service.adapters import load_file, normalize
from tests.adapters.helpers import check_event, fixture

LOGS = "bedrock-invocation/bedrock_model_invocation_logs_subset.jsonl"


def test_real_invocation_logs() -> None:
    stream, intervened, converse, profile = normalize(load_file(fixture(LOGS)))
    for event in (stream, intervened, converse, profile):
        check_event(event)
        assert event["source"] == "aws.bedrock.invocation"
        assert event["action"] == "model.invoke"
        assert event["outcome"] == "success"
        assert event["id"] == event["raw"]["requestId"]
    assert stream["actor"] == {
        "type": "role_session",
        "id": "arn:aws:sts::795142007471:assumed-role/BEDROCKPLAYGROUNDACCESS/uwga",
    }
    assert stream["resource"] == {"type": "model", "id": "anthropic.claude-v2:1"}
    assert stream["attributes"]["operation"] == "ConverseStream"
    assert (
        stream["attributes"]["input_tokens"],
        stream["attributes"]["output_tokens"],
        stream["attributes"]["total_tokens"],
    ) == (3263, 300, 3563)
    assert stream["attributes"]["guardrail_intervened"] is False
    # The INTERVENED marker sits inside one stream chunk.
    assert intervened["attributes"]["guardrail_intervened"] is True
    assert intervened["actor"]["type"] == "user"
    assert converse["attributes"]["guardrail_ids"] == ["grd-observe-01"]
    assert converse["attributes"]["guardrail_intervened"] is False  # actions were NONE
    assert profile["resource"]["id"] == (
        "arn:aws:bedrock:us-east-1:111122223333:inference-profile/"
        "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    )
    assert profile["attributes"]["total_tokens"] == 98


def test_prompts_and_completions_stay_out_of_attributes() -> None:
    events = normalize(load_file(fixture(LOGS)))
    for event in events:
        attributes = orjson.dumps(event["attributes"]).decode()
        for fragment in ("molotov", "capital of", "s3://", "Sorry, the model"):
            assert fragment not in attributes
    # ...while raw still holds them, for the erasable payload store.
    assert "molotov" in orjson.dumps(events[1]["raw"]).decode()


def test_error_code_outcomes() -> None:
    record = load_file(fixture(LOGS))[3]
    denied = dict(record, errorCode="AccessDeniedException")
    invalid = dict(record, errorCode="ValidationException")
    a, b = normalize([denied, invalid])
    assert a["outcome"] == "denied"
    assert b["outcome"] == "failure"
    assert b["attributes"]["error_code"] == "ValidationException"
