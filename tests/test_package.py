"""The built wheel works anywhere: installed in a fresh venv and run from directories
that have nothing to do with the checkout, it finds its rules, runbooks and migrations
(package data) and one database and signing key (in the data directory)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from bench.common import free_port

REPO = Path(__file__).resolve().parent.parent
EVENTS = [
    {"id": f"w{i}", "time": "2026-11-30T12:00:00Z", "source": "gateway",
     "action": "model.invoke", "actor": {"id": "alice@example.com"},
     "resource": {"type": "model", "id": "llm-prod"}}
    for i in range(3)
]  # fmt: skip


def _venv_with_wheel(tmp: Path, env: dict[str, str]) -> Path:
    # Built from a copy: pip builds in the source tree (build/, *.egg-info).
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("service", "rules", "runbooks", "migrations"):
        shutil.copytree(REPO / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    wheels = tmp / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    wheel = next(wheels.glob("custody-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    # The dependencies come from this test environment's site-packages (appended to
    # sys.path, after the venv's own): installing them from an index would take minutes.
    # Custody itself comes only from the wheel: nothing points at the checkout.
    # (Written after the install, or pip would take custody as already installed.)
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", code], check=True,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin" / "custody"


@pytest.mark.slow
def test_the_wheel_works_from_any_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CUSTODY_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # fmt: skip
    custody = _venv_with_wheel(tmp_path, env)
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), CUSTODY_LOG_FORMAT="json")
    dirs = {name: tmp_path / name for name in ("srv", "ops", "ship")}
    for d in dirs.values():
        d.mkdir()

    version = subprocess.run([str(custody), "--version"], capture_output=True, text=True, env=env,
                             cwd=dirs["ops"], check=True)  # fmt: skip
    assert version.stdout.startswith("custody ")
    # The OpenSearch template and ISM policy are package data too.
    layout = "from service.search import lifecycle as l; print(sorted(l.ism_policy(l.Layout('x'))))"
    loaded = subprocess.run([str(custody.parent / "python"), "-c", layout], capture_output=True,
                            text=True, env=env, cwd=dirs["ops"])  # fmt: skip
    assert loaded.stdout.strip() == "['policy']", loaded.stderr

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(custody), "serve", "--port", str(port)],
            env=env, cwd=dirs["srv"], stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        started = log.read_text()
        assert f"listening on http://127.0.0.1:{port}" in started
        site = "site-packages/service/_data"
        assert f"{site}/rules" in started and f"{site}/runbooks" in started, started
        assert "NONE" not in started and str(tmp_path / "data" / "custody") in started

        # Another directory, same database: the token it prints is one the server accepts.
        made = subprocess.run([str(custody), "token", "create", "--scope", "admin", "--quiet"],
                              capture_output=True, text=True, env=env, cwd=dirs["ops"])  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert len(made.stdout.splitlines()) == 1
        token = made.stdout.strip()
        client_env = {**env, "CUSTODY_URL": url, "CUSTODY_TOKEN": token}

        events = dirs["ship"] / "audit.ndjson"
        events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
        shipped = subprocess.run([str(custody), "ship", "audit.ndjson"], capture_output=True,
                                 text=True, env=client_env, cwd=dirs["ship"])  # fmt: skip
        assert shipped.returncode == 0, shipped.stderr
        assert "3 events shipped: 3 new" in shipped.stdout

        opened = httpx.post(f"{url}/v1/incidents", headers={"Authorization": f"Bearer {token}"},
                            json={"title": "From the wheel", "evidence": [2, 3]})  # fmt: skip
        assert opened.status_code == 201, opened.text
        assert opened.json()["runbook_id"] == "generic-ai-incident"  # the packaged runbooks

        listed = subprocess.run([str(custody), "--output", "json", "incidents", "list"],
                                capture_output=True, text=True, env=client_env,
                                cwd=tmp_path)  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert [i["title"] for i in json.loads(listed.stdout)["items"]] == ["From the wheel"]
    finally:
        server.terminate()
        server.wait(10)
    assert not any(p.suffix in (".db", ".pem") for d in dirs.values() for p in d.iterdir())
