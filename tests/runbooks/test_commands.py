"""Runbooks cannot ship a broken command: every shell block of every runbook, rendered for
a realistic incident, is checked. Each `custody` invocation is parsed by the real CLI
(subcommand, options, required values); each `curl` call to the API is matched against
the OpenAPI document (path, method, declared and required query parameters); each `jq`
filter fed by `custody replay` runs over a real replay stream, trailer line included."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import typer
from fastapi.testclient import TestClient

from service.cli import app as cli_app
from service.packaged import shipped
from service.runbooks.loader import load_dir
from service.runbooks.render import render_instance, sample_context

TEMPLATES, PROBLEMS = load_dir(shipped("runbooks"))
SH_BLOCK = re.compile(r"```(?:sh|bash|shell)\n(.*?)```", re.S)
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")"}
REDIRECTS = {">", ">>", "<", "2>", "2>&1"}


@pytest.fixture
def backend() -> str:
    return "sqlite"  # what is checked here does not depend on the database


def _blocks(template: Any) -> Iterator[tuple[str, str]]:
    context = sample_context()
    rendered = render_instance(
        template, incident=context["incident"], group=context["group"],
        evidence=context["evidence"],
    )  # fmt: skip
    for phase in rendered["phases"]:
        for step in phase["steps"]:
            for block in SH_BLOCK.findall(step["instructions"]):
                yield step["id"], block
    for block in SH_BLOCK.findall(rendered["overview"]):
        yield "overview", block


def _pipelines(block: str) -> Iterator[list[list[str]]]:
    """Each logical line as pipelines of commands (a list of words each)."""
    text = re.sub(r"\\\n\s*", " ", block)
    pending = ""
    for raw in text.splitlines():
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        line = f"{pending}\n{raw}" if pending else raw
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;()<>")
        lexer.whitespace_split = True
        try:
            words_of_line = list(lexer)
        except ValueError:  # a quoted string goes on over the next line
            pending = line
            continue
        pending = ""
        commands: list[list[str]] = [[]]
        redirect = False
        for word in words_of_line:
            if redirect:  # the file a redirection names is not a word of the command
                redirect = False
            elif word in REDIRECTS:
                redirect = True
            elif word in SEPARATORS:
                commands.append([])
            else:
                commands[-1].append(word)
        # Loop keywords: what follows them is the command.
        cleaned = []
        for words in commands:
            while words and words[0] in {"do", "then", "else", "done", "fi"}:
                words = words[1:]
            if words:
                cleaned.append(words)
        yield cleaned


def _commands() -> list[tuple[str, str, list[str], list[list[str]]]]:
    found = []
    for template in TEMPLATES:
        for step, block in _blocks(template):
            for pipeline in _pipelines(block):
                for words in pipeline:
                    found.append((template.id, step, words, pipeline))
    return found


COMMANDS = _commands()


def _parse_custody(args: list[str]) -> None:
    """Parse like the real `custody` would, without running anything."""
    command: Any = typer.main.get_command(cli_app)
    ctx = command.make_context("custody", list(args))
    while hasattr(command, "resolve_command"):
        rest = [*ctx._protected_args, *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)


def test_runbooks_load_and_have_commands() -> None:
    assert not PROBLEMS and len(TEMPLATES) >= 9
    assert sum(1 for _, _, words, _ in COMMANDS if words[0] == "custody") >= 20
    assert sum(1 for _, _, words, _ in COMMANDS if words[0] == "curl") >= 5


def test_every_custody_invocation_parses(tmp_path: Path, monkeypatch: Any) -> None:
    # Files that earlier steps write (bundles) or the responder keeps (the pinned key).
    monkeypatch.chdir(tmp_path)
    failures = []
    for runbook, step, words, _ in COMMANDS:
        if words[0] != "custody":
            continue
        for word in words:
            if re.fullmatch(r"[\w.-]+\.(zip|pem)", word):
                (tmp_path / word).touch()
        try:
            _parse_custody(words[1:])
        except Exception as exc:
            failures.append(f"{runbook}/{step}: {shlex.join(words)}: {exc}")
    assert not failures, "\n".join(failures)


def _operations(client: TestClient) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    doc = client.get("/openapi.json").json()
    ops = []
    for path, methods in doc["paths"].items():
        regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, op in methods.items():
            ops.append((regex, method.upper(), op))
    return ops


def test_every_api_call_matches_the_openapi(client: TestClient) -> None:
    operations = _operations(client)
    failures = []
    for runbook, step, words, _ in COMMANDS:
        if words[0] != "curl":
            continue
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        urls = [w for w in words if w.startswith("$CUSTODY_URL/")]
        assert len(urls) == 1, (runbook, step, words)
        parts = urlsplit(urls[0].replace("$CUSTODY_URL", "http://custody"))
        match = [op for regex, m, op in operations if regex.match(parts.path) and m == method]
        if not match:
            failures.append(f"{runbook}/{step}: {method} {parts.path} is not in the API")
            continue
        params = {p["name"]: p for p in match[0].get("parameters", []) if p["in"] == "query"}
        given = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
        for name in given - set(params):
            failures.append(f"{runbook}/{step}: {parts.path} has no query parameter {name!r}")
        for name, param in params.items():
            if param.get("required") and name not in given:
                failures.append(f"{runbook}/{step}: {parts.path} needs {name!r}")
    assert not failures, "\n".join(failures)


def test_jq_filters_read_a_real_replay_stream(client: TestClient, tmp_path: Path) -> None:
    events = [
        {"time": "2026-11-30T12:00:00Z", "source": "iam", "action": action, "outcome": outcome,
         "actor": {"id": "alice@example.com"}, "resource": {"type": "role", "id": "admin"}}
        for action, outcome in (("model.permission.grant", "success"), ("apikey.create",
                                "success"), ("auth.login.failure", "failure"))
    ]  # fmt: skip
    assert client.post("/v1/events", json=events).status_code == 200
    stream = client.get("/v1/replay", params={"actor": "alice@example.com"}).content
    assert stream.splitlines()[-1].startswith(b'{"trailer"')
    checked = 0
    for runbook, step, words, pipeline in COMMANDS:
        if words[0] != "jq" or not any(w[:2] == ["custody", "replay"] for w in pipeline):
            continue
        run = subprocess.run(words, input=stream, capture_output=True, check=False)
        assert run.returncode == 0, f"{runbook}/{step}: {shlex.join(words)}: {run.stderr!r}"
        rows = run.stdout.splitlines()
        leaked = [r for r in rows if b"trailer" in r or r.strip(b"\t ") in (b"", b"null")]
        assert not leaked, f"{runbook}/{step}: the trailer leaks through: {leaked}"
        checked += 1
    assert checked >= 3
