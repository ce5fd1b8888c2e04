"""Every JSON request body refuses unknown fields: a misspelled field must never be ignored.

(`POST /v1/tokens` with `expires_in` instead of `expires_in_days` used to mint a token that
never expires.) The check walks the app's routes, so routes added later are covered too.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel

from tests.auth.test_access import api_routes


def _body_models(app: Any) -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for route in api_routes(app.routes):
        for param in route.dependant.body_params:
            annotation = param.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                for method in route.methods:
                    found[f"{method} {route.path}"] = annotation
    return found


def test_every_body_model_forbids_unknown_fields(app: Any) -> None:
    models = _body_models(app)
    assert len(models) >= 5, models
    lax = {
        route: m.__name__ for route, m in models.items() if m.model_config.get("extra") != "forbid"
    }
    assert not lax, f"request bodies that silently ignore unknown fields: {lax}"


def test_misspelled_token_expiry_is_refused(client: TestClient) -> None:
    response = client.post("/v1/tokens", json={"scope": "read", "expires_in": 1})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "expires_in" in response.text
    assert client.get("/v1/tokens").json()["items"][-1]["scope"] != "read"
