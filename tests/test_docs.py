"""The docs that are generated from code stay in sync with it."""

from __future__ import annotations

from pathlib import Path

from service.adapters import mapping_markdown

REPO = Path(__file__).resolve().parent.parent


def test_mapping_tables_in_docs_match_the_code() -> None:
    assert mapping_markdown().strip() in (REPO / "docs" / "mappings.md").read_text()


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
