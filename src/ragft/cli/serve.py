"""Commands for serving an arm: serve, users add/remove/list, audit verify/show."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ragft import arms
from ragft.cli.common import (
    WorkspaceOption,
    app,
    console,
    err_console,
    open_workspace,
    user_errors,
)
from ragft.files import write_atomic

users_app = typer.Typer(help="API keys for `ragft serve`: each key is a user with groups.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log of served answers.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")


def _printable(text: str, *, keep: str = "") -> str:
    """`text` with control and format characters (ESC, BEL, bidi overrides, ...) shown as escapes, so a
    caller's question cannot drive the admin's terminal; characters in `keep` stay as they are."""
    return "".join(
        ch if ch in keep or unicodedata.category(ch) not in _UNPRINTABLE else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


_UNPRINTABLE = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


@users_app.command("add")
@user_errors
def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    group: Annotated[list[str], typer.Option("--group", "-g", help="A group the user belongs to (repeatable).")] = [],  # noqa: B006
    workspace: WorkspaceOption = None,
) -> None:
    """Create a user and print its API key (shown once; only a hash is stored)."""
    from ragft.serve import UserRegistry

    key = UserRegistry(open_workspace(workspace)).add(name, frozenset(group))
    console.print(f"User [bold]{name}[/] ({', '.join(group) or 'no groups'}). API key, shown once:")
    console.print(key, markup=False, highlight=False)


@users_app.command("remove")
@user_errors
def users_remove(name: Annotated[str, typer.Argument(help="User name.")], workspace: WorkspaceOption = None) -> None:
    """Revoke a user's key at once (the user stays in the audit log)."""
    from ragft.serve import UserRegistry

    UserRegistry(open_workspace(workspace)).remove(name)
    console.print(f"Revoked {name}.")


@users_app.command("list")
@user_errors
def users_list(workspace: WorkspaceOption = None) -> None:
    """List users, their groups and whether their key is revoked."""
    from ragft.serve import UserRegistry

    table = Table("user", "groups", "created (UTC)", "status")
    for record in UserRegistry(open_workspace(workspace)).list():
        table.add_row(record.name, ", ".join(sorted(record.groups)), record.created_at, "revoked" if record.revoked else "active")
    console.print(table)


_CHECKPOINT_HELP = "A file from `ragft audit checkpoint`: also catch a truncated tail or a log deleted whole."


@audit_app.command("verify")
@user_errors
def audit_verify(
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-c", help=_CHECKPOINT_HELP)] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Check the hash chain, its MACs and anchor: exit 1 and name the first edited or deleted entry if it is broken."""
    from ragft.serve.anchor import Checkpoint
    from ragft.serve.audit_verify import verify_audit

    result = verify_audit(open_workspace(workspace), Checkpoint.load(checkpoint) if checkpoint else None)
    if result.ok:
        against = f", consistent with the checkpoint {checkpoint}" if checkpoint else ""
        console.print(f"Audit log intact: {result.entries} entries{against}.", markup=False, highlight=False)
        return
    err_console.print(f"[bold red]Audit log broken[/] at entry {result.first_bad_seq}: {escape(_printable(result.reason))}")
    raise typer.Exit(1)


@audit_app.command("checkpoint")
@user_errors
def audit_checkpoint(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write it to this file (default: print it).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Print (or write) a signed checkpoint of the log: store it off this machine, verify against it later."""
    from ragft.serve import AuditLog

    log = AuditLog(open_workspace(workspace))
    try:
        text = log.checkpoint().to_json()
    finally:
        log.close()
    if out is None:
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        return
    write_atomic(out, text.encode("utf-8"))
    err_console.print(f"Checkpoint written to {escape(str(out))}; keep a copy where this machine cannot change it.")


@audit_app.command("show")
@user_errors
def audit_show(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's requests.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only entries at or after this ISO time (UTC).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 50,
    workspace: WorkspaceOption = None,
) -> None:
    """Show audit entries: time, user, system, question, cited chunks, latency."""
    from ragft.serve import AuditLog

    table = Table("#", "time (UTC)", "user", "system", "question", "cited", "latency")
    for e in AuditLog(open_workspace(workspace)).entries(user=user, since=since, limit=limit):
        # Questions come from callers: printed as plain text with control characters escaped, never as markup or terminal codes.
        cells = (str(e.seq), e.time, e.user, e.system, e.question[:80], "\n".join(e.cited), f"{e.latency_s:.2f} s")
        table.add_row(*(Text(_printable(cell, keep="\n")) for cell in cells))
    console.print(table)


@app.command()
@user_errors
def serve(
    system: Annotated[str, typer.Option("--system", "-s", help=f"The arm to serve: {arms.choices_help()}.")] = "rag",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    allow_restricted_training: Annotated[
        bool, typer.Option("--allow-restricted-training", help="Serve a trained arm even if it learned restricted documents.")
    ] = False,
    rate_limit_per_min: Annotated[int, typer.Option(help="Requests per minute per API key (429 beyond).")] = 60,
    queue_size: Annotated[int, typer.Option(help="Requests waiting for the model at once (503 + Retry-After beyond).")] = 8,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve an arm over HTTP: /v1/ask, OpenAI-compatible /v1/chat/completions, /v1/documents, /docs.

    Callers authenticate with `Authorization: Bearer <key>` (keys from `ragft users add`); every
    answer is appended to the audit log (`ragft audit verify`).
    """
    import os
    import signal

    import uvicorn

    from ragft.errors import RagftError
    from ragft.serve import create_app

    ws = open_workspace(workspace)
    # The system loads after the server listens: /v1/health says "warming up" (and for how long) meanwhile,
    # and a failure to load stops the server with the reason.
    api = create_app(
        ws,
        system_name=system,
        allow_restricted_training=allow_restricted_training,
        rate_limit_per_min=rate_limit_per_min,
        queue_size=queue_size,
        warm_in_background=True,
        on_warmup_failure=lambda: os.kill(os.getpid(), signal.SIGTERM),
    )
    for version in api.state.server.reconciled:
        err_console.print(
            f"[yellow]audit:[/] corpus version {version} was ingested without an audit entry (the server stopped "
            "between the two); recorded it as reconciled"
        )
    console.print(
        f"Serving [bold]{system}[/] on http://{host}:{port}  (API docs: http://{host}:{port}/docs); "
        f"warming up: http://{host}:{port}/v1/health says when it is ready"
    )
    uvicorn.run(api, host=host, port=port, log_level="warning")
    warmup = api.state.server.warmup
    if warmup is not None and warmup.error is not None:
        raise RagftError(warmup.error)
