"""`custody keys rotate`: a server command (CUSTODY_DATABASE_URL, CUSTODY_SIGNING_KEY_PATH)."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, help="The checkpoint signing key.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("rotate")
def rotate() -> None:
    """Replace the signing key: logged (log.key.rotate) and vouched for by the old key."""
    from service.config import Settings
    from service.db import database, session_scope
    from service.evidence import keyring
    from service.evidence.errors import EvidenceError
    from service.evidence.guard import CheckpointRefused

    settings = Settings()
    path = settings.signing_key_path
    if not path.exists():
        err.print(f"[red]FAILED[/red] no signing key at {path}")
        raise typer.Exit(2)
    try:
        with database(settings.database_url) as factory, session_scope(factory) as session:
            rotation, new = keyring.rotate(session, path)
        keyring.finish(path, new)
    except (CheckpointRefused, EvidenceError, OSError) as exc:
        err.print(f"[red]FAILED[/red] {getattr(exc, 'detail', exc)}")
        raise typer.Exit(1) from None
    console.print(
        f"[green]Rotated[/green] key {rotation.old_key_id} -> {rotation.new_key_id}; "
        f"log.key.rotate at seq {rotation.seq}, signed by the old key in checkpoint "
        f"tree_size {rotation.checkpoint_tree_size}"
    )
