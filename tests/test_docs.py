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
