"""The console in a real browser: Debian's chromium driven by Playwright against a live
uvicorn serving the app on SQLite.

Needs `apt-get install -y chromium` and the `playwright` package (the Playwright browser
download is not used). Screenshots go to the test's tmp_path (look there when a test
fails); scripts/console_screenshots.py makes the ones in docs/console.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright import sync_api as playwright_api

from service.auth.schemas import Scope
from service.evidence.bundle_verify import verify_bundle
from tests.incidents.conftest import ingest, open_incident

# Debian's package (see .ci/run), wherever PATH finds it.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip

if not shutil.which(CHROMIUM):  # pragma: no cover - CI installs it (see .ci/run)
    pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)


@pytest.fixture
def backend() -> str:
    # One live server per test is enough: the console's SQL is tested on both databases.
    return "sqlite"


@pytest.fixture
def live(app: Any) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"))


UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')].filter(e => e.labels.length === 0)
    .map(e => e.name)"""


def _sign_in(browser: Any, live: str, token: str, **context: Any) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, **context)
    page = ctx.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"{page.url} {m.location} {m.text}") if m.type == "error" else None
        ),
    )
    page.goto(f"{live}/console/")
    assert "/console/login" in page.url
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live}/console/")
    return ctx, page, problems


def test_triage_an_incident_to_resolved_in_the_browser(
    client: TestClient, make_token: Any, live: str, browser: Any, tmp_path: Path
) -> None:
    seqs = ingest(client, 4)
    ingest(client, 2, action="model.export", source="model-registry")
    other = open_incident(client, title="Earlier probe from the same user", severity="medium")
    inc = open_incident(
        client, evidence=seqs, runbook_id="generic-ai-incident", title="Weights pulled by alice"
    )
    assert client.post("/v1/log/checkpoints").status_code == 201
    ctx, page, problems = _sign_in(browser, live, make_token(Scope.respond))

    assert page.evaluate("typeof htmx") == "object"  # the vendored script ran under the CSP
    page.get_by_role("link", name=inc["id"]).wait_for()
    _shot(page, "queue", tmp_path)
    page.get_by_role("link", name=inc["id"]).click()
    page.wait_for_url(f"**/console/incidents/{inc['id']}")

    page.get_by_label("Move to").select_option("acknowledged")
    page.get_by_role("button", name="Change status").click()
    page.locator("#status", has_text="acknowledged").wait_for()

    runbook = client.get(f"/v1/incidents/{inc['id']}/runbook").json()
    for phase in runbook["phases"]:
        for step in phase["steps"]:
            item = page.locator(f"#step-{step['id']}")
            item.get_by_label("Note").fill(f"handled {step['id']}")
            item.get_by_role("button", name="Complete" if step["required"] else "Skip").click()
            item.locator(
                ".step-status", has_text="done" if step["required"] else "skipped"
            ).wait_for()
    page.get_by_label("Comment").fill("Token revoked; weights were not exfiltrated.")
    page.get_by_role("button", name="Add comment").click()
    page.get_by_text("weights were not exfiltrated").wait_for()
    _shot(page, "incident", tmp_path)
    page.get_by_label("Move to").select_option("resolved")
    page.get_by_role("button", name="Change status").click()
    page.locator("#status", has_text="resolved").wait_for()
    assert client.get(f"/v1/incidents/{inc['id']}").json()["status"] == "resolved"

    # Pivot on the actor: the entity page lists both incidents that carry it.
    client.post(f"/v1/incidents/{other['id']}/evidence", json={"seqs": seqs[:1]})
    page.get_by_role("row", name="actor:alice@example.com").get_by_role(
        "link", name="incidents"
    ).click()
    page.wait_for_url("**/console/entities/actor/**")
    assert page.get_by_role("link", name=other["id"]).is_visible()
    assert page.get_by_role("link", name=inc["id"]).is_visible()

    # Export the evidence bundle and verify it offline with the public key.
    page.goto(f"{live}/console/incidents/{inc['id']}")
    assert page.evaluate(UNLABELLED) == []  # the incident page: every field has a label
    with page.expect_download() as download:
        page.get_by_role("button", name="Export evidence bundle").click()
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    report = verify_bundle(bundle, client.get("/v1/log/public-key").text)
    assert report.ok, report.failure
    assert report.records >= 4

    page.get_by_role("link", name="Verify evidence now").click()
    page.locator("#verdict", has_text="Verified").wait_for()

    for name, path in (("overview", "overview"), ("log", "log"), ("integrity", "integrity"),
                       ("rules", "rules"), ("queue", "")):  # fmt: skip
        page.goto(f"{live}/console/{path}")
        _shot(page, name, tmp_path)
        assert page.evaluate(UNLABELLED) == [], name  # every field has a label
    page.goto(f"{live}/console/integrity")
    page.get_by_role("button", name="Verify now").click()
    page.locator("#chain-verdict", has_text="Chain intact").wait_for()
    assert not problems, "\n".join(problems)  # CSP violations show up here too
    ctx.close()


def test_csrf_and_scope_refusals_in_the_browser(
    client: TestClient, make_token: Any, live: str, browser: Any
) -> None:
    inc = open_incident(client, evidence=ingest(client, 2), runbook_id="generic-ai-incident")
    ctx, page, _ = _sign_in(browser, live, make_token(Scope.admin))
    page.goto(f"{live}/console/incidents/{inc['id']}")
    # A stale or forged token: the form is refused and nothing changes.
    page.eval_on_selector_all("input[name=csrf]", "els => els.forEach(e => e.value = 'forged')")
    page.get_by_role("button", name="Change status").click()
    page.get_by_text("CSRF token is missing or stale").wait_for()
    assert client.get(f"/v1/incidents/{inc['id']}").json()["status"] == "open"
    ctx.close()

    ctx, page, _ = _sign_in(browser, live, make_token(Scope.read))
    page.goto(f"{live}/console/incidents/{inc['id']}")
    assert page.get_by_role("button", name="Change status").count() == 0
    csrf = page.locator("input[name=csrf]").first.input_value()
    # Even a well-formed post from the read session's own page is refused by scope.
    r = page.request.post(
        f"{live}/console/incidents/{inc['id']}/status",
        form={"csrf": csrf, "status": "acknowledged"},
    )
    assert r.status == 403
    assert "needs the respond scope" in r.text()
    assert client.get(f"/v1/incidents/{inc['id']}").json()["status"] == "open"
    ctx.close()


def test_reading_works_with_javascript_off(
    client: TestClient, make_token: Any, live: str, browser: Any, tmp_path: Path
) -> None:
    inc = open_incident(client, evidence=ingest(client, 2), title="No-JS reader")
    ctx, page, _ = _sign_in(browser, live, make_token(Scope.read), java_script_enabled=False)
    page.get_by_role("link", name=inc["id"]).click()
    page.wait_for_url(f"**/console/incidents/{inc['id']}")
    assert page.get_by_role("heading", name="Evidence events").is_visible()
    page.set_viewport_size({"width": 390, "height": 800})  # a phone
    page.goto(f"{live}/console/")
    assert page.get_by_role("link", name=inc["id"]).is_visible()
    _shot(page, "queue-narrow", tmp_path)
    ctx.close()
