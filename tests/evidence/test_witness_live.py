"""`custody witness` as an auditor runs it: a separate process against a live server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.auth.schemas import Scope
from service.evidence.keys import load_private_key
from service.evidence.signing import sign_checkpoint
from tests.client.live import REPO, Server
from tests.conftest import event

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the storage side is tested apart


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(db_url, tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _witness(server: Server, token: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CUSTODY_URL": server.url, "CUSTODY_TOKEN": token, "COLUMNS": "200"}
    args = ["--key", str(tmp_path / "w.pem"), "--log-key", str(tmp_path / "log-keys.pem")]
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "witness", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_custody_witness_cosigns_then_refuses_a_fork(
    server: Server, make_token: Callable[..., str], tmp_path: Path
) -> None:
    admin, reader = make_token(Scope.admin), make_token(Scope.read)
    headers = {"Authorization": f"Bearer {admin}"}

    def grow(count: int) -> dict[str, object]:
        events = [event(attributes={"n": n}) for n in range(count)]
        httpx.post(f"{server.url}/v1/events", json=events, headers=headers).raise_for_status()
        made = httpx.post(f"{server.url}/v1/log/checkpoints", headers=headers)
        made.raise_for_status()
        body: dict[str, object] = made.json()
        return body

    grow(4)
    keys = httpx.get(f"{server.url}/v1/log/public-key", headers=headers)
    (tmp_path / "log-keys.pem").write_bytes(keys.content)
    first = _witness(server, reader, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Cosigned" in first.stdout and "first checkpoint seen" in first.stdout
    seen = grow(3)
    second = _witness(server, reader, tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"tree_size {seen['tree_size']}" in second.stdout and "consistent with" in second.stdout

    # The witness once saw another history under the same key (a fork shown to someone
    # else): it refuses to cosign this one, and says why.
    key = load_private_key(tmp_path / "signing-key.pem")
    fork = sign_checkpoint(key, 2, b"\x01" * 32).to_dict()
    state = tmp_path / "w.pem.witness-state.json"
    state.write_text(json.dumps(fork))
    refused = _witness(server, reader, tmp_path)
    assert refused.returncode == 1
    assert "REFUSED" in refused.stderr and "not a consistent extension" in refused.stderr
    assert json.loads(state.read_text()) == fork
    listed = server.get(admin, "/v1/log/cosignatures")
    assert len(listed["items"]) == 1  # only the consistent one of this checkpoint
