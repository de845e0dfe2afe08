"""The `ragft` command: a thin shell where every verb calls one library function and prints.

`app` is the Typer application; each module below adds its group of commands to it, in the order
`ragft --help` lists them (getting documents in, answering, comparing, serving).
"""

# ruff: noqa: I001  (the import order below is the order of `ragft --help`)
from ragft.cli.common import app
from ragft.cli import corpus, answer, compare, serve, engine  # noqa: F401  (importing registers the commands)

__all__ = ["app"]
