"""`custody opensearch init`: install the index template, the ISM policy and the write
alias (CUSTODY_OPENSEARCH_*). The indexer does the same when it starts; this is for
deploys that prepare the cluster first, or to apply changed settings now.

(Not `custody search init`: `custody search WORDS` is the client's search command.)
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from service.client.terminal import EXIT_REFUSED, EXIT_UNAVAILABLE, CliError

app = typer.Typer(no_args_is_help=True, help="The OpenSearch search index.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("init")
def init(
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate",
            help="delete an index an older Custody made under the alias's name (the indexer "
            "refills the new one from the database)",
        ),
    ] = False,
) -> None:
    """Install or update the template and ISM policy, and create `<index>-000001` behind
    the write alias when missing. Idempotent; prints what changed."""
    from opensearchpy.exceptions import ConnectionError as OsConnectionError
    from opensearchpy.exceptions import TransportError

    from service.config import Settings
    from service.search import lifecycle
    from service.search.opensearch import OpenSearchIndex

    settings = Settings()
    layout = lifecycle.Layout.from_settings(settings)
    index = OpenSearchIndex(url=settings.opensearch_url, index=layout.alias, layout=layout)
    try:
        migrated = migrate and lifecycle.migrate_legacy(index.client, layout)
        done = index.install()
    except OsConnectionError as exc:
        raise CliError(
            f"OpenSearch {settings.opensearch_url}: {exc.error}", EXIT_UNAVAILABLE
        ) from None
    except TransportError as exc:
        raise CliError(f"OpenSearch refused: {exc.status_code} {exc.error}", EXIT_REFUSED) from None
    finally:
        index.close()
    if migrated:
        console.print(f"Deleted the old index [bold]{layout.alias}[/bold]; the indexer refills it")
    console.print(f"index template [bold]{layout.alias}[/bold]: {done.template}")
    if done.policy == "unavailable":
        err.print(f"[yellow]warning[/yellow] ISM policy not installed: {done.ism_note}; "
                  "no rollover and no retention")  # fmt: skip
    else:
        console.print(f"ISM policy [bold]{layout.alias}[/bold]: {done.policy}")
    if done.index == "legacy":
        err.print(
            f"[yellow]warning[/yellow] {layout.alias} is an index an older Custody made: it "
            "keeps working without rollover or retention; `custody opensearch init "
            "--migrate` replaces it"
        )
    else:
        target = f" -> {layout.first_index}" if done.index == "created" else ""
        console.print(f"write alias [bold]{layout.alias}[/bold]{target}: {done.index}")
