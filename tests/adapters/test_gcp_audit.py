"""Google Cloud audit logs for Vertex AI: the Elastic integration's real test file."""

from __future__ import annotations

import copy

import pytest

from service.adapters import load_file, normalize
from tests.adapters.helpers import check_event, fixture

VERTEX = "vertex/gcp_vertexai_auditlogs.jsonl"


def test_real_vertex_entries() -> None:
    first, second, failed, ok = normalize(load_file(fixture(VERTEX)))
    for event in (first, second, failed, ok):
        check_event(event)
        assert event["source"] == "gcp.audit"
        assert event["attributes"]["log_type"] == "data_access"
    # CountTokens generates nothing; it keeps a derived action instead of model.invoke.
    assert first["action"] == "gcp.aiplatform.prediction_service.count_tokens"
    assert first["id"] == "1tif4epd6kb0"
    assert first["time"] == "2025-05-06T05:52:00.360Z"  # from ...00.360468025Z
    assert first["actor"]["type"] == "user"
    assert first["actor"]["id"] == "pc.cf@elastic.co"
    assert first["actor"]["ip"] == "175.16.199.0"
    assert first["resource"] == {"type": "model", "id": "gemini-2.0-flash-exp"}
    assert second["attributes"]["project_id"] == "elastic-agd"
    assert failed["action"] == "model.invoke"
    assert failed["outcome"] == "failure"  # status.code 10 ABORTED
    assert failed["attributes"]["error_code"] == 10
    assert failed["attributes"]["error_message"] == "The operation was aborted."
    assert failed["actor"] == {
        "type": "service_account",
        "id": "matt-adams-gimini-live-app@elastic-abs.iam.gserviceaccount.com",
        "ip": "175.16.199.14",
        "user_agent": "Python/3.9 websockets/14.2,gzip(gfe)",
    }
    assert failed["attributes"]["credential_kind"] == "user_managed_key"
    assert failed["request_id"] == "10971818856000606804"
    assert ok["outcome"] == "success"
    assert ok["resource"] == {"type": "model", "id": "gemini-2.0-flash-live-preview-04-09"}


@pytest.mark.parametrize(
    ("method", "resource_name", "code", "action", "outcome", "resource"),
    [
        (
            "google.cloud.aiplatform.v1.PredictionService.GenerateContent",
            "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro",
            None,
            "model.invoke",
            "success",
            {"type": "model", "id": "gemini-2.5-pro"},
        ),
        (
            "google.cloud.aiplatform.v1.PredictionService.Predict",
            "projects/p/locations/us-central1/endpoints/123",
            7,
            "model.invoke",
            "denied",
            {"type": "endpoint", "id": "projects/p/locations/us-central1/endpoints/123"},
        ),
        (
            "google.cloud.aiplatform.v1.ModelService.UploadModel",
            "projects/p/locations/us-central1/models/987",
            0,
            "model.create",
            "success",
            {"type": "model", "id": "projects/p/locations/us-central1/models/987"},
        ),
        (
            "google.cloud.aiplatform.v1.EndpointService.DeployModel",
            "projects/p/locations/us-central1/endpoints/123",
            16,
            "model.deploy",
            "denied",
            {"type": "endpoint", "id": "projects/p/locations/us-central1/endpoints/123"},
        ),
        (
            "google.cloud.aiplatform.v1.ModelService.DeleteModel",
            "projects/p/locations/us-central1/models/987",
            5,
            "model.delete",
            "failure",
            {"type": "model", "id": "projects/p/locations/us-central1/models/987"},
        ),
    ],
)
def test_methods_and_status_codes(
    method: str,
    resource_name: str,
    code: int | None,
    action: str,
    outcome: str,
    resource: dict[str, str],
) -> None:
    entry = copy.deepcopy(load_file(fixture(VERTEX))[0])
    entry["protoPayload"]["methodName"] = method
    entry["protoPayload"]["resourceName"] = resource_name
    if code is not None:
        entry["protoPayload"]["status"] = {"code": code}
    [event] = normalize(entry)
    check_event(event)
    assert (event["action"], event["outcome"], event["resource"]) == (action, outcome, resource)
