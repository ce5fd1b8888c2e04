"""`custody witness`: a client command (CUSTODY_URL, CUSTODY_TOKEN with the read scope)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
Opt = typer.Option


def witness(
    key: Annotated[Path, Opt("--key", help="the witness's Ed25519 key (PEM; created if absent)")],
    log_key: Annotated[
        Path, Opt("--log-key", help="the log's public keys (PEM keyring), from a trusted channel")
    ],
    state: Annotated[
        Path | None,
        Opt("--state", help="last cosigned checkpoint (default: <key>.witness-state.json)"),
    ] = None,
    every: Annotated[
        float | None, Opt("--every", min=1.0, help="repeat every N seconds until stopped")
    ] = None,
) -> None:
    """Witness the log: cosign its latest checkpoint if it extends the last one seen."""
    from service.client.http import ClientConfigError, api_client
    from service.evidence.errors import EvidenceError
    from service.evidence.keys import key_fingerprint, load_or_create_key
    from service.evidence.witness_client import WitnessRefusal, witness_once

    state = state or key.with_name(key.name + ".witness-state.json")
    while True:
        try:
            with api_client() as client:
                done = witness_once(
                    client, key_path=key, log_keys_pem=log_key.read_bytes(), state_path=state
                )
        except ClientConfigError as exc:
            err.print(f"[red]FAILED[/red] {exc}")
            raise typer.Exit(2) from None
        except (WitnessRefusal, EvidenceError, OSError) as exc:
            err.print(f"[red]REFUSED[/red] {exc}")
            raise typer.Exit(1) from None
        since = (
            "first checkpoint seen"
            if done.previous_size is None
            else f"consistent with tree_size {done.previous_size}"
        )
        witness_id = key_fingerprint(load_or_create_key(key))[:16]
        console.print(
            f"[green]Cosigned[/green] checkpoint tree_size {done.checkpoint.tree_size} root "
            f"{done.checkpoint.root_hash} ({since}) as witness {witness_id}"
        )
        if every is None:
            return
        time.sleep(every)
