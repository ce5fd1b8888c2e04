"""A `custody serve` subprocess that can be killed and restarted on the same port, and
`custody ship` run as users run it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port

REPO = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, db_url: str, tmp: Path) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.process: subprocess.Popen[bytes] | None = None
        self.started = False

    def start(self) -> None:
        """Start on this server's port. The first start may move to another port when
        the chosen one was taken meanwhile (other test runs share the machine)."""
        for _ in range(3):
            log = self._launch()
            if self._wait_up(log):
                self.started = True
                return
            if self.started or "address already in use" not in log.read_text():
                raise AssertionError(f"the server exited during start-up:\n{log.read_text()}")
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        raise AssertionError("no free port for the server")

    def _launch(self) -> Path:
        env = {
            **os.environ,
            "CUSTODY_DATABASE_URL": self.db_url,
            "CUSTODY_RUN_BACKGROUND": "false",
            "CUSTODY_LOG_LEVEL": "WARNING",
            "CUSTODY_LOG_FORMAT": "json",
            "CUSTODY_SIGNING_KEY_PATH": str(self.tmp / "signing-key.pem"),
            "CUSTODY_INGEST_RATE_LIMIT_PER_MINUTE": "100000000",
        }
        log = self.tmp / "server.log"
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)],
                env=env,
                cwd=REPO,
                stdout=sink,
                stderr=sink,
            )
        return log

    def _wait_up(self, log: Path) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.1)
        raise AssertionError(f"the server did not come up:\n{log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight requests die unanswered."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def get(self, token: str, path: str, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        r = httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=60)
        r.raise_for_status()
        return r.json()


def ship_process(args: list[str], *, url: str, token: str, **popen: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "CUSTODY_URL": url, "CUSTODY_TOKEN": token, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "ship", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
