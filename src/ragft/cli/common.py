"""What every `ragft` command shares: the Typer app, the consoles, error handling, finding the workspace."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.markup import escape

from ragft import __version__
from ragft.errors import RagftError
from ragft.workspace import Workspace

app = typer.Typer(
    help="ragft: RAG, fine-tuning, or both? Measure it on your own documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: found from the current directory upwards)."),
]


def user_errors(func: F) -> F:
    """Print a RagftError as one red line and exit 2; Ctrl-C exits 130 without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RagftError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)  # "[models] ..." is text, not markup
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: nothing half-done was kept; stored data is as it was before")
            raise typer.Exit(130) from None

    return cast(F, wrapper)


def open_workspace(path: Path | None) -> Workspace:
    return Workspace.open(path) if path else Workspace.find()


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"ragft {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """ragft builds RAG, fine-tuned and hybrid question answering over your documents and compares them."""
