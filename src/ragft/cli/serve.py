"""Commands for serving an arm: serve, users add/remove/list, audit verify/show."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ragft import arms
from ragft.cli.common import (
    WorkspaceOption,
    app,
    console,
    err_console,
    open_workspace,
    user_errors,
)

users_app = typer.Typer(help="API keys for `ragft serve`: each key is a user with groups.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log of served answers.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")


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


@audit_app.command("verify")
@user_errors
def audit_verify(workspace: WorkspaceOption = None) -> None:
    """Recompute the hash chain: exit 1 and name the first edited or deleted entry if it is broken."""
    from ragft.serve import AuditLog

    result = AuditLog(open_workspace(workspace)).verify()
    if result.ok:
        console.print(f"Audit log intact: {result.entries} entries.")
        return
    err_console.print(f"[bold red]Audit log broken[/] at entry {result.first_bad_seq}: {result.reason}")
    raise typer.Exit(1)


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
        table.add_row(str(e.seq), e.time, e.user, e.system, e.question[:80], "\n".join(e.cited), f"{e.latency_s:.2f} s")
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
    import uvicorn

    from ragft.serve import create_app

    ws = open_workspace(workspace)
    with err_console.status(f"loading the {system} system..."):
        api = create_app(ws, system_name=system, allow_restricted_training=allow_restricted_training,
                         rate_limit_per_min=rate_limit_per_min, queue_size=queue_size)  # fmt: skip
    console.print(f"Serving [bold]{system}[/] on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(api, host=host, port=port, log_level="warning")
