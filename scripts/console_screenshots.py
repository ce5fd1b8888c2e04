"""Refresh the console screenshots in docs/console/ from a demo server.

    .venv/bin/python scripts/console_screenshots.py

Starts `custody serve` on a scratch SQLite database, sends a day of demo events from a
few sources, opens and works incidents through the API (their opening times are moved
back in the database so the charts show two weeks), then photographs each page in
Debian's chromium (`apt-get install -y chromium`) at 1280x800 and at a phone's width.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench.common import live_server, make_token  # noqa: E402
from service import migrate  # noqa: E402
from service.auth.schemas import Scope  # noqa: E402

OUT = ROOT / "docs" / "console"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
SOURCES = ["inference-gateway", "model-registry", "training-pipeline", "admin-console"]
ACTIONS = ["model.invoke", "model.invoke", "model.read", "model.weights.download",
           "dataset.read", "apikey.create", "policy.update"]  # fmt: skip
TITLES = [
    "Weights downloaded by a new actor", "Burst of denied invocations",
    "Guardrail policy changed outside change window", "API key used from a new country",
    "Training data read by a service account", "Prompt injection markers in requests",
]  # fmt: skip
SEVERITIES = ["critical", "high", "high", "medium", "medium", "medium", "low", "info"]


def events(now: datetime, rng: random.Random) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(1500):
        source = rng.choices(SOURCES, weights=[6, 2, 2, 1])[0]
        delay = (
            timedelta(minutes=rng.choice([0, 0, 0, 0, 1, 12]))
            if source == "training-pipeline"
            else timedelta()
        )
        when = now - timedelta(seconds=rng.randrange(86_000)) - delay
        if source == "admin-console" and i % 7 == 0:
            when = now + timedelta(minutes=5)  # a clock running ahead
        out.append({
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "source": source,
            "action": rng.choice(ACTIONS),
            "outcome": "denied" if rng.random() < 0.08 else "success",
            "actor": {"type": "user", "id": f"user{rng.randrange(12)}@example.com",
                      "ip": f"203.0.113.{rng.randrange(40)}"},
            "resource": {"type": "model", "id": f"llm-{rng.randrange(5)}"},
            "attributes": {"tokens_in": rng.randrange(4000)},
        })  # fmt: skip
    return out


def main() -> None:
    rng = random.Random(19)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        url = f"sqlite:///{db}"
        migrate.upgrade(url)
        token = make_token(url, Scope.admin)
        env = {
            "CUSTODY_SIGNING_KEY_PATH": str(Path(tmp) / "key.pem"),
            "CUSTODY_RULES_DIR": str(ROOT / "rules"),
            "CUSTODY_RUNBOOKS_DIR": str(ROOT / "runbooks"),
        }
        with live_server(url, **env) as server:
            api = httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
            )
            seqs: list[int] = []
            batch = events(now, rng)
            for start in range(0, len(batch), 500):
                r = api.post("/v1/events", json=batch[start : start + 500])
                r.raise_for_status()
                seqs += list(range(r.json()["first_seq"], r.json()["last_seq"] + 1))
            opened = []
            for n in range(36):
                evidence = rng.sample(seqs, 6)
                r = api.post("/v1/incidents", json={
                    "title": rng.choice(TITLES), "severity": rng.choice(SEVERITIES),
                    "evidence": evidence, "runbook_id": "generic-ai-incident",
                    "assignee": rng.choice([None, "alice@example.com", "bob@example.com"]),
                })  # fmt: skip
                r.raise_for_status()
                opened.append((r.json()["id"], n))
            # Opening times spread over two weeks (demo only), then some worked to the end.
            with sqlite3.connect(db) as conn:
                for incident_id, n in opened:
                    back = now - timedelta(days=n % 14, hours=rng.randrange(1, 20))
                    conn.execute("UPDATE incidents SET opened_at = ? WHERE number = ?",
                                 (back.isoformat(), int(incident_id.split("-")[1])))  # fmt: skip
            for incident_id, _ in opened[12:]:
                current = api.get(f"/v1/incidents/{incident_id}")
                api.patch(f"/v1/incidents/{incident_id}", json={"status": "acknowledged"},
                          headers={"If-Match": current.headers["ETag"]})  # fmt: skip
            api.post("/v1/log/checkpoints").raise_for_status()
            shoot(server.url, token, opened[-1][0])


def shoot(base: str, token: str, incident_id: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/console/login")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/console/")
        pages = [
            ("queue", "/console/"), ("incident", f"/console/incidents/{incident_id}"),
            ("overview", "/console/overview"), ("log", "/console/log"),
            ("rules", "/console/rules"), ("integrity", "/console/integrity/verify"),
        ]  # fmt: skip
        for name, path in pages:
            page.goto(base + path)
            page.screenshot(path=str(OUT / f"{name}.png"))
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(f"{base}/console/")
        page.screenshot(path=str(OUT / "queue-narrow.png"))
        browser.close()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
