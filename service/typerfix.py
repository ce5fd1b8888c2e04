"""A presentation fix to typer's rich help, applied once by the CLI: flags were listed
with a `<bool>` type ("--help <bool>"), but a flag takes no value, so it shows none."""

from __future__ import annotations

from typing import Any

import typer.core


def apply() -> None:
    original = typer.core.TyperOption.display_type_rich
    if getattr(original, "_custody", False):
        return

    def display_type_rich(self: typer.core.TyperOption, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return original(self, ctx)

    display_type_rich._custody = True  # type: ignore[attr-defined]
    typer.core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
