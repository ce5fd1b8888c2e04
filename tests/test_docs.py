"""The docs that are generated from code stay in sync with it."""

from __future__ import annotations

from pathlib import Path

from service.adapters import mapping_markdown

REPO = Path(__file__).resolve().parent.parent


def test_mapping_tables_in_docs_match_the_code() -> None:
    assert mapping_markdown().strip() in (REPO / "docs" / "mappings.md").read_text()
