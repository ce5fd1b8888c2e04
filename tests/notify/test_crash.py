"""The dispatcher in `custody worker`, killed with SIGKILL mid-delivery and restarted:
every notification arrives at least once, and in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import REPO
from tests.incidents.conftest import open_incident
from tests.notify.receiver import receiver
from tests.notify.test_dispatch import SECRET, verify_standard_webhook


def start_worker(db_url: str, targets: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CUSTODY_DATABASE_URL": db_url,
        "CUSTODY_NOTIFY_TARGETS_FILE": str(targets),
        "CUSTODY_SIGNING_KEY_PATH": str(tmp_path / "key.pem"),
        "CUSTODY_RULES_DIR": str(REPO / "rules"),
        "CUSTODY_RUNBOOKS_DIR": str(REPO / "runbooks"),
        "CUSTODY_LOG_FORMAT": "json",
        "SOC_SECRET": SECRET,
    }
    with open(tmp_path / "worker.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_mid_delivery_loses_nothing_and_keeps_order(
    client: TestClient, db_url: str, tmp_path: Path
) -> None:
    with receiver() as hook:
        hook.delay = 0.03  # slow enough that the kill lands mid-stream
        targets = tmp_path / "targets.yml"
        targets.write_text(
            f"targets:\n  - name: soc\n    type: webhook\n    url: {hook.url}\n"
            "    secret_env: SOC_SECRET\n"
        )
        opened = [open_incident(client, title=f"i{n}", severity="high")["id"] for n in range(40)]

        def delivered() -> list[str]:
            return [
                verify_standard_webhook(r, SECRET)["incident"]["id"] for r in list(hook.requests)
            ]

        kills = 0
        for threshold in (8, 20):
            worker = start_worker(db_url, targets, tmp_path)
            wait_for(lambda t=threshold: len(hook.requests) >= t)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            kills += 1
        worker = start_worker(db_url, targets, tmp_path)
        try:
            wait_for(lambda: set(delivered()) >= set(opened))
        finally:
            worker.terminate()
            worker.wait(30)
    got = delivered()
    assert kills == 2
    # At least once and in order: a kill between send and commit repeats only the
    # notification in flight, as the next delivery.
    collapsed = [n for i, n in enumerate(got) if i == 0 or got[i - 1] != n]
    assert collapsed == opened
    assert len(got) - len(opened) <= kills
