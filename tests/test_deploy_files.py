"""docker-compose.yml and the Dockerfile, checked statically: there is no Docker engine
where Custody is developed, so these files are never run here. What can be checked is
checked: every service has a health check and waits on what it needs, commands exist
in the CLI, no secret is written in the file, ports stay on localhost."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
import yaml

from service.cli import app
from service.heartbeat import fresh, main
from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()


def _cli_paths() -> set[tuple[str, ...]]:
    root = typer.main.get_command(app)
    paths: set[tuple[str, ...]] = set()

    def walk(cmd: Any, prefix: tuple[str, ...]) -> None:
        paths.add(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():  # groups have commands
            walk(sub, (*prefix, name))

    walk(root, ())
    return paths


def _custody_commands(service: dict[str, Any]) -> list[list[str]]:
    """The custody invocations a service runs (its command, or `sh -c` scripts)."""
    command = service.get("command")
    if command is None:
        return [["serve"]]  # the image's CMD
    if service.get("entrypoint") == ["sh", "-c"]:
        return [part.split()[1:] for part in re.split(r"\s*&&\s*", command[0])]
    return [command]


def test_every_service_waits_for_what_it_needs_and_is_health_checked() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "opensearch", "migrate", "api", "worker"}
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test") or (name == "migrate" and check.get("disable")), name
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in services
            assert cond["condition"] in ("service_healthy", "service_completed_successfully")
    assert services["api"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["api"]["depends_on"]["opensearch"] == {"condition": "service_healthy"}


def test_commands_exist_in_the_cli_and_roles_are_split() -> None:
    paths = _cli_paths()
    for name in ("migrate", "api", "worker"):
        for argv in _custody_commands(COMPOSE["services"][name]):
            words = [w for w in argv if not w.startswith("-")]
            assert tuple(words[:1]) in paths, argv
            assert tuple(words[:2]) in paths or tuple(words[:1]) in paths, argv
    migrate = COMPOSE["services"]["migrate"]
    assert "custody db upgrade" in migrate["command"][0]
    assert "custody db roles --runtime-role custody_app" in migrate["command"][0]
    # Migrations as the owner; the API and the worker as the runtime role.
    assert "//custody:" in migrate["environment"]["CUSTODY_DATABASE_URL"]
    for name in ("api", "worker"):
        assert "//custody_app:" in COMPOSE["services"][name]["environment"]["CUSTODY_DATABASE_URL"]


def test_no_secret_in_the_file_and_ports_on_localhost() -> None:
    for service in COMPOSE["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${"), key
            for password in re.findall(r"://[^:/@]+:([^@]*)@", str(value)):
                assert password.startswith("${"), key  # interpolated from .env
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    assert (REPO / ".env.example").exists()
    assert ".env" in (REPO / ".dockerignore").read_text().split()


def test_dockerfile_is_multi_stage_non_root_pinned_and_health_checked() -> None:
    stages = re.findall(r"^FROM (\S+) AS (\w+)", DOCKERFILE, re.M)
    assert [s[1] for s in stages] == ["build", "runtime"]
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert "--require-hashes -r requirements/runtime.txt" in DOCKERFILE
    assert (REPO / "requirements" / "runtime.txt").exists()
    assert re.search(r"^USER custody$", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "pip uninstall -y pip" in runtime
    assert "gcc" not in runtime and "apt-get" not in runtime
    entry = re.search(r'^ENTRYPOINT \["custody"\]', runtime, re.M)
    assert entry and ("serve",) in _cli_paths()


def test_worker_heartbeat_check(tmp_path: Path) -> None:
    path = tmp_path / "worker.heartbeat"
    assert main([str(path), "60"]) == 1  # never touched
    path.touch()
    assert main([str(path), "60"]) == 0
    assert not fresh(path, 60, now=path.stat().st_mtime + 61)
