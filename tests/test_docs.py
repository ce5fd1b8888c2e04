"""The docs that are generated from code stay in sync with it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from service.adapters import mapping_markdown

REPO = Path(__file__).resolve().parent.parent


def test_mapping_tables_in_docs_match_the_code() -> None:
    assert mapping_markdown().strip() in (REPO / "docs" / "mappings.md").read_text()


def test_collector_config_in_the_otel_doc_is_wired() -> None:
    """The documented Collector config parses and forwards GenAI traces and logs to
    Custody's OTLP base path (the exporter appends /v1/traces and /v1/logs)."""
    text = (REPO / "docs" / "opentelemetry.md").read_text()
    block = re.search(r"```yaml\n(receivers:.*?)```", text, re.S)
    assert block is not None
    config = yaml.safe_load(block.group(1))
    exporter = config["exporters"]["otlphttp/custody"]
    assert exporter["endpoint"].endswith("/otlp") and exporter["compression"] == "gzip"
    assert exporter["headers"]["Authorization"].startswith("Bearer ")
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces/custody", "logs/custody"}
    for pipeline in pipelines.values():
        assert pipeline["exporters"] == ["otlphttp/custody"]
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline[kind]) <= set(config[kind]), (kind, pipeline)
    assert config["service"]["extensions"] == list(config["extensions"])


def test_api_docs_work_offline(tmp_path: Path) -> None:
    """Swagger UI and ReDoc load every asset from this server: no CDN, no fonts, no badge."""
    import re

    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'docs.db'}", run_background=False,
                        signing_key_path=tmp_path / "key.pem", log_level="ERROR")  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        for page, needs in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            html = client.get(page)
            assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
            assert (
                "http://" not in html.text
                and "https://" not in html.text
                and "//cdn" not in html.text
            )
            assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
            assert any(a.endswith(needs) for a in assets), assets
            for asset in assets:
                assert asset.startswith("/docs/assets/"), asset
                fetched = client.get(asset)
                assert fetched.status_code == 200 and len(fetched.content) > 1000, asset
            assert "validatorUrl" not in html.text or '"validatorUrl": null' in html.text
        assert client.get("/openapi.json").status_code == 200
    app.state.engine.dispose()


def test_openapi_is_complete(tmp_path: Path) -> None:
    """What a client generator needs: bearer auth, problem+json errors, bodies for every
    content type ingest takes, examples and hand-written summaries on every operation."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}", run_background=False,
                        signing_key_path=tmp_path / "key.pem", log_level="ERROR")  # fmt: skip
    app = create_app(settings)
    doc = TestClient(app).get("/openapi.json").json()
    app.state.engine.dispose()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert all(t.get("description") for t in doc["tags"])
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            # FastAPI's generated summaries title-case the function name ("Post Step").
            words = op["summary"].split()
            assert words and (len(words) == 1 or not all(w[0].isupper() for w in words)), where
            assert op.get("security") == [] or path not in ("/healthz", "/readyz"), where
            examples = [p for p in op.get("parameters", []) if "example" in p]
            body = op.get("requestBody", {}).get("content", {}).values()
            examples += [c for c in body if "example" in c or "examples" in c]
            responses = op["responses"].values()
            examples += [
                c for r in responses for c in r.get("content", {}).values() if "example" in c
            ]
            assert examples, f"{where} has no example"
            for code, response in op["responses"].items():
                if code.startswith("4"):
                    assert list(response["content"]) == ["application/problem+json"], (where, code)
            if path not in ("/healthz", "/readyz"):
                assert "401" in op["responses"] and "403" in op["responses"], where
    ingest = doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert set(ingest) == {"application/json", "application/x-ndjson"}
    patch = doc["paths"]["/v1/incidents/{incident_id}"]["patch"]["responses"]
    assert {"409", "412", "428"} <= set(patch)
