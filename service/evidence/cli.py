"""`custody replay`, `custody export`, `custody verify-bundle` and the auditor check
behind `custody verify --against-checkpoint`."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from service.client import terminal
from service.client.http import ClientConfigError, api_client, problem_message
from service.client.times import HELP as TIME_HELP
from service.client.times import time_param
from service.config import Settings
from service.evidence.tree_render import draw_tree

console = Console(soft_wrap=True)  # one line per result, for scripts and grep
err = Console(stderr=True, soft_wrap=True)

Opt = typer.Option
ScopeOpts = dict[str, Any]


def _scope(**values: Any) -> ScopeOpts:
    return {k: v for k, v in values.items() if v is not None}


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]FAILED[/red] {message}")
    return typer.Exit(code)


def replay(
    actor: Annotated[str | None, Opt(help="actor.id")] = None,
    resource_type: Annotated[str | None, Opt("--resource-type")] = None,
    resource_id: Annotated[str | None, Opt("--resource-id")] = None,
    source: Annotated[str | None, Opt()] = None,
    action: Annotated[str | None, Opt(help="exact, or a prefix ending in *")] = None,
    incident: Annotated[str | None, Opt(help="INC-N")] = None,
    trace: Annotated[str | None, Opt("--trace", help="trace id: one agent run, as a tree")] = None,
    since: Annotated[str | None, Opt(help=f"event time >= since: {TIME_HELP}")] = None,
    until: Annotated[str | None, Opt(help=f"event time < until: {TIME_HELP}")] = None,
    from_seq: Annotated[int | None, Opt("--from-seq")] = None,
    to_seq: Annotated[int | None, Opt("--to-seq")] = None,
    output: Annotated[Path | None, Opt("-o", "--output", help="file (default stdout)")] = None,
    archive: Annotated[
        Path | None,
        Opt("--archive", help="replay archived ranges offline from this bundle directory"),
    ] = None,
    public_key: Annotated[
        Path | None, Opt("--public-key", help="with --archive: the log's PEM public keys")
    ] = None,
) -> None:
    """Stream a verified replay (NDJSON); exit non-zero if verification failed.

    With --trace the records come parent before children, each with a `tree` object,
    and the run is drawn as a tree on stderr. With --archive, no server: the bundles
    `custody archive` wrote are verified and replayed (only --from-seq/--to-seq apply)."""
    if archive is not None:
        narrowed = (actor, resource_type, resource_id, source, action, incident, trace, since,
                    until)  # fmt: skip
        if any(v is not None for v in narrowed):
            raise _fail("with --archive only --from-seq and --to-seq narrow the replay", 2)
        _replay_archive(archive, public_key, from_seq, to_seq, output)
        return
    params = _scope(
        actor=actor, resource_type=resource_type, resource_id=resource_id, source=source,
        action=action, incident=incident, trace_id=trace, since=time_param(since, "--since"),
        until=time_param(until, "--until"), from_seq=from_seq,
        to_seq=to_seq,
    )  # fmt: skip
    nodes: list[dict[str, Any]] = []
    last = b""
    try:
        with (
            api_client(
                url=terminal.GLOBALS.url, token=terminal.GLOBALS.token, timeout=300.0
            ) as client,
            client.stream("GET", "/v1/replay", params=params) as response,
        ):
            if response.status_code != 200:
                response.read()
                raise _fail(problem_message(response), 2)
            with output.open("wb") if output else nullcontext(sys.stdout.buffer) as out:
                for line in response.iter_lines():
                    data = line.encode()
                    out.write(data + b"\n")
                    last = data
                    if trace and not data.startswith(b'{"trailer"'):
                        nodes.append(json.loads(data))
                out.flush()
    except ClientConfigError as exc:
        raise _fail(str(exc), terminal.EXIT_USAGE) from None
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the server: {exc}", terminal.EXIT_UNAVAILABLE) from None
    trailer = json.loads(last).get("trailer") if last.startswith(b'{"trailer"') else None
    if trailer is None:
        raise _fail("the stream ended without a trailer (truncated?)")
    if trace:
        for line in draw_tree(trace, nodes):
            err.print(line)
    if not trailer["verified"]:
        raise _fail(f"at seq {trailer['first_bad_seq']}: {trailer['reason']}")
    err.print(
        f"[green]OK[/green] {trailer['count']} records verified, {trailer['anchored']} "
        f"anchored to checkpoint {_describe(trailer['checkpoint'])}"
    )


def _replay_archive(
    directory: Path,
    public_key: Path | None,
    from_seq: int | None,
    to_seq: int | None,
    output: Path | None,
) -> None:
    from service.retention.offline import replay_archive

    if public_key is None:
        raise _fail("--archive needs --public-key (the log's keys, from a trusted channel)", 2)
    if not directory.is_dir():
        raise _fail(f"{directory} is not a directory", 2)
    last = b""
    with output.open("wb") if output else nullcontext(sys.stdout.buffer) as out:
        for chunk in replay_archive(
            directory, public_key.read_bytes(), from_seq=from_seq, to_seq=to_seq
        ):
            out.write(chunk)
            last = chunk
        out.flush()
    trailer = json.loads(last)["trailer"]
    if not trailer["verified"]:
        raise _fail(f"archive {directory}: {trailer['reason']}")
    err.print(
        f"[green]OK[/green] {trailer['count']} archived records replayed from "
        f"{trailer['bundles']} verified bundles (seq {trailer['first_seq']}..{trailer['last_seq']})"
    )


def _describe(checkpoint: dict[str, Any] | None) -> str:
    if checkpoint is None:
        return "(none yet)"
    return f"tree_size {checkpoint['tree_size']} root {checkpoint['root_hash'][:16]}..."


def export(
    output: Annotated[Path, Opt("-o", "--output", help="bundle file to write")],
    actor: Annotated[str | None, Opt(help="actor.id")] = None,
    resource_type: Annotated[str | None, Opt("--resource-type")] = None,
    resource_id: Annotated[str | None, Opt("--resource-id")] = None,
    source: Annotated[str | None, Opt()] = None,
    action: Annotated[str | None, Opt(help="exact, or a prefix ending in *")] = None,
    incident: Annotated[str | None, Opt(help="INC-N")] = None,
    trace: Annotated[str | None, Opt("--trace", help="trace id: one agent run")] = None,
    since: Annotated[str | None, Opt(help=f"event time >= since: {TIME_HELP}")] = None,
    until: Annotated[str | None, Opt(help=f"event time < until: {TIME_HELP}")] = None,
    from_seq: Annotated[int | None, Opt("--from-seq")] = None,
    to_seq: Annotated[int | None, Opt("--to-seq")] = None,
) -> None:
    """Download an evidence bundle (zip) of a scope."""
    body = _scope(
        actor=actor, resource_type=resource_type, resource_id=resource_id, source=source,
        action=action, incident=incident, trace_id=trace, since=time_param(since, "--since"),
        until=time_param(until, "--until"), from_seq=from_seq,
        to_seq=to_seq,
    )  # fmt: skip
    try:
        with (
            api_client(
                url=terminal.GLOBALS.url, token=terminal.GLOBALS.token, timeout=300.0
            ) as client,
            client.stream("POST", "/v1/exports", json=body) as response,
        ):
            if response.status_code != 200:
                response.read()
                raise _fail(problem_message(response), 2)
            with output.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
    except ClientConfigError as exc:
        raise _fail(str(exc), terminal.EXIT_USAGE) from None
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach the server: {exc}", terminal.EXIT_UNAVAILABLE) from None
    console.print(f"[green]Wrote[/green] {output}")


def verify_bundle(
    file: Annotated[Path, typer.Argument(help="bundle .zip", exists=True, dir_okay=False)],
    public_key: Annotated[
        Path,
        Opt(
            "--public-key",
            help="the log's PEM public keys (current and retired), from a trusted channel",
        ),
    ],
    witness_key: Annotated[
        list[Path] | None,
        Opt("--witness-key", help="a witness's PEM public key that must have cosigned"),
    ] = None,
) -> None:
    """Verify an evidence bundle offline: no database, no server."""
    from service.evidence.bundle import verify_bundle as verify
    from service.evidence.errors import EvidenceError
    from service.evidence.keys import load_public_key

    try:
        witnesses = [load_public_key(path.read_bytes()) for path in witness_key or []]
    except (OSError, EvidenceError) as exc:
        raise _fail(f"cannot use the witness key: {exc}", 2) from None
    report = verify(file, public_key.read_bytes(), witnesses)
    if not report.ok:
        raise _fail(
            f"{report.failure} ({report.records} records and {report.proofs_checked} proofs "
            "verified before the failure)"
        )
    console.print(
        f"[green]OK[/green] {report.records} records, {report.proofs_checked} inclusion proofs, "
        f"{report.payloads_checked} payloads, {report.chain_links_checked} chain links verified "
        f"against checkpoint tree_size {report.tree_size} root {report.root_hash} "
        f"(key {report.key_id})"
    )
    if report.anchor:
        console.print(f"[green]OK[/green] {report.anchor}")
    if report.witnesses:
        console.print(
            f"[green]OK[/green] checkpoint cosigned by {report.witnesses} trusted witness(es)"
        )


def against_checkpoint(settings: Settings, file: Path, public_key: Path | None) -> None:
    """Exit non-zero unless the log consistently extends the checkpoint saved in ``file``."""
    from service.db import database, session_scope
    from service.evidence.auditor import check_against_checkpoint
    from service.evidence.errors import EvidenceError
    from service.evidence.keyring import load_public_keys
    from service.evidence.keys import load_private_key
    from service.evidence.signing import Checkpoint

    try:
        data = json.loads(file.read_text())
        fields = ("tree_size", "root_hash", "timestamp", "key_id", "signature")
        old = Checkpoint.from_dict({name: data.get(name) for name in fields})
        if public_key is not None:  # a keyring: current and retired keys
            pk: Any = load_public_keys(public_key.read_bytes())
        else:
            pk = load_private_key(settings.signing_key_path).public_key()
    except (OSError, ValueError, EvidenceError) as exc:
        raise _fail(f"cannot use {file}: {exc}", 2) from None
    with database(settings.database_url) as factory, session_scope(factory) as session:
        report = check_against_checkpoint(session=session, old=old, public_key=pk)
    if not report.ok:
        raise _fail(f"against checkpoint tree_size {report.old_size}: {report.reason}")
    console.print(
        f"[green]OK[/green] the log (checkpoint tree_size {report.new_size}) is a consistent "
        f"extension of the saved checkpoint (tree_size {report.old_size})"
    )


def register(app: typer.Typer) -> None:
    app.command()(replay)
    app.command()(export)
    app.command("verify-bundle")(verify_bundle)
