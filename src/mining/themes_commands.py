"""`mining themes list`: the emerging problems the newest run found."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

console = Console()
themes_app = typer.Typer(help="Emerging problems no failure type names yet.",
                         no_args_is_help=True)


@themes_app.command("list")
def themes_list(
    examples: Annotated[bool, typer.Option("--examples", help="Show the examples too.")] = False,
    db: Annotated[Path | None, typer.Option(help="Database; default: the read copy.")] = None,
) -> None:
    """The newest run's themes, largest first: id, items, growth, sites and keywords."""
    import duckdb

    from mining.analysis.themes import growth_label
    from mining.cli import describe, fail, run_lock
    from mining.settings import Settings
    from mining.store.db import read_named_queries

    def read(source: Path) -> pd.DataFrame:
        return read_named_queries(source, ["themes_list"], [])["themes_list"]

    try:
        if db is not None and db.is_file():
            with run_lock(db, "themes list", "; without --db it reads the analysts' copy"):
                frame = read(db)
        else:
            frame = read(db or Settings().read_copy_path)
    except FileNotFoundError as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        fail(f"cannot read the themes: {describe(exc)}")
    table = Table(title=f"Emerging themes ({len(frame)})")
    for column in ("theme", "items", "growth vs previous window", "sites", "keywords",
                   *(("examples",) if examples else ())):
        table.add_column(column)
    for row in frame.itertuples(index=False):
        cells = [row.theme_id, str(row.size), growth_label(int(row.size), int(row.previous_size)),
                 ", ".join(row.sites), ", ".join(row.keywords)]
        if examples:
            cells.append("\n".join(row.examples))
        table.add_row(*cells)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(themes_app, name="themes")
