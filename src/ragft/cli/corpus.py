"""Commands that get documents in and look at them: init, ingest, corpus log/show/diff, sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from ragft.cli.common import (
    WorkspaceOption,
    app,
    console,
    err_console,
    open_workspace,
    user_errors,
)
from ragft.corpus.access import describe_acl
from ragft.corpus.diff import diff_versions
from ragft.corpus.ingest import IngestReport, ingest
from ragft.corpus.problems import printable
from ragft.workspace import Workspace

corpus_app = typer.Typer(help="Inspect the versioned corpus: versions, documents, diffs.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


@app.command()
@user_errors
def init(directory: Annotated[Path, typer.Argument(help="Folder to make a workspace (created if missing).")] = Path(".")) -> None:
    """Create a workspace: ragft.toml (every setting, commented) and the .ragft/ state folder."""
    workspace = Workspace.init(directory)
    console.print(f"Created workspace [bold]{workspace.root}[/] (settings in {workspace.root / 'ragft.toml'})")
    console.print("Next: [bold]ragft ingest PATH[/] to add documents.")


_WIDEN_HELP = "Let this ingest make documents public or add groups to them; documents whose tags it does not state take exactly --acl."


@app.command("ingest")
@user_errors
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (folders are read recursively).")],
    acl: Annotated[list[str], typer.Option("--acl", help="Restrict these documents to a group (repeatable).")] = [],  # noqa: B006
    include: Annotated[list[str], typer.Option("--include", help="Only files matching this glob (repeatable).")] = [],  # noqa: B006
    exclude: Annotated[list[str], typer.Option("--exclude", help="Skip files matching this glob (repeatable).")] = [],  # noqa: B006
    sync: Annotated[
        bool, typer.Option("--sync", help="Make the corpus exactly these paths: documents not found here are removed.")
    ] = False,
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="Follow symbolic links whose target is inside the folder given (default: skip links).")
    ] = False,
    allow_widen_access: Annotated[bool, typer.Option("--allow-widen-access", help=_WIDEN_HELP)] = False,
    note: Annotated[str, typer.Option(help="A note stored with the new corpus version.")] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Add or update documents (.txt .md .html .pdf .docx .jsonl); changes make a new corpus version.

    Unchanged files are not stored again; a changed file gets a new document version; a file gone
    from a re-ingested folder is removed in the new version. A document keeps its access tags unless
    --acl or its front matter states new ones; every change is listed, and one that widens access
    fails that document unless --allow-widen-access. Exit code 1 if any file failed.
    """
    ws = open_workspace(workspace)
    report = _ingest_with_progress(
        ws,
        paths,
        acl=frozenset(acl),
        include=include,
        exclude=exclude,
        sync=sync,
        note=note,
        follow_symlinks=follow_symlinks,
        allow_widen_access=allow_widen_access,
    )
    _print_ingest_report(report)
    if report.failures:
        raise typer.Exit(1)


def _ingest_with_progress(ws: Workspace, paths: list[Path], **options: Any) -> IngestReport:
    columns = (TextColumn("[bold]ingest[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("", total=None)
        return ingest(
            ws.store,
            paths,
            max_file_mb=ws.config.corpus.max_file_mb,
            on_total=lambda n: progress.update(task, total=n),
            on_file=lambda name: progress.update(task, advance=1, description=escape(printable(name[-50:]))),
            **options,
        )


def _plain(text: str) -> Text:
    """User-supplied text (file names, messages quoting file content) as a cell: no markup, no control characters."""
    return Text(printable(text))


def _print_ingest_report(report: IngestReport) -> None:
    if report.problems:
        table = Table(title="Files not ingested", title_justify="left")
        for column in ("file", "what is wrong", "what to do"):
            table.add_column(column, overflow="fold")
        for problem in report.problems:
            style = "dim" if problem.skipped else "red"
            table.add_row(_plain(problem.path), Text(printable(problem.problem), style=style), _plain(problem.advice))
        console.print(table)
    if report.acl_changes:
        table = Table(title="Access tags changed", title_justify="left")
        for column in ("doc id", "old", "new", "change"):
            table.add_column(column, overflow="fold")
        for change in report.acl_changes:
            kind = Text("widened (--allow-widen-access)", style="yellow") if change.widens else Text("narrowed")
            table.add_row(_plain(change.doc_id), _plain(describe_acl(change.old)), _plain(describe_acl(change.new)), kind)
        console.print(table)
    if report.flagged:
        table = Table(title="Documents that read as instructions to a model", title_justify="left")
        for column in ("doc id", "why"):
            table.add_column(column, overflow="fold")
        for doc_id, reasons in sorted(report.flagged.items()):
            table.add_row(_plain(doc_id), _plain("; ".join(reasons)))
        console.print(table)
        console.print(
            "[dim]They are stored as they are: read them before serving. With \\[retrieval] injection_guard on "
            "(the default), RAG leaves their passages out of its prompts.[/]"
        )
    plan = report.plan
    counts = f"{len(plan.added)} added, {len(plan.changed)} changed, {len(plan.removed)} removed, {len(plan.unchanged)} unchanged"
    if report.version is None:
        where = f"version {report.previous_version}" if report.previous_version else "empty"
        console.print(f"No changes ({counts}); the corpus stays at {where}.")
    else:
        console.print(f"Corpus version [bold]{report.version}[/]: {counts}.")
    console.print(
        f"{report.files_loaded} files, {report.documents_seen} documents, {report.bytes_read / 1e6:.2f} MB "
        f"in {report.elapsed_s:.2f} s ({report.docs_per_s:.1f} docs/s, {report.mb_per_s:.2f} MB/s); "
        f"{len(report.failures)} failed, {len(report.acl_changes)} access changes."
    )


@corpus_app.command("log")
@user_errors
def corpus_log(workspace: WorkspaceOption = None) -> None:
    """List corpus versions with what each ingest changed."""
    versions = open_workspace(workspace).store.versions()
    if not versions:
        console.print("The corpus is empty; add documents with `ragft ingest PATH`.")
        return
    table = Table("version", "created (UTC)", "documents", "added", "changed", "removed", "note")
    for v in versions:
        table.add_row(str(v.version), v.created_at, str(v.documents), str(v.added), str(v.changed), str(v.removed), v.note)
    console.print(table)


@corpus_app.command("show")
@user_errors
def corpus_show(
    doc_id: Annotated[str | None, typer.Argument(help="A document id; omit to list all documents.")] = None,
    version: Annotated[int | None, typer.Option("--version", "-v", help="Corpus version (default: latest).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """List the documents of a corpus version, or show one document with its text and history."""
    store = open_workspace(workspace).store
    if doc_id is None:
        table = Table("doc id", "title", "doc version", "chars", "format", "acl")
        for doc in store.documents(version):
            table.add_row(
                doc.doc_id, doc.title, str(doc.version), str(len(doc.text)), doc.metadata.get("format", ""), ",".join(sorted(doc.acl))
            )
        console.print(table)
        return
    doc = store.document(doc_id, version)
    history = ", ".join(f"v{d.version}" for d in store.history(doc_id))
    console.print(f"[bold]{doc.title}[/]  ({doc.doc_id}, document version {doc.version}; all versions: {history})")
    console.print(f"source: {doc.source}   acl: {', '.join(sorted(doc.acl)) or 'public'}   format: {doc.metadata.get('format')}")
    console.rule()
    console.print(doc.text, markup=False, highlight=False)


@corpus_app.command("diff")
@user_errors
def corpus_diff(
    old: Annotated[int, typer.Argument(help="Older corpus version.")],
    new: Annotated[int, typer.Argument(help="Newer corpus version.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Show added, removed and changed documents between two versions, with the changed sentences."""
    diff = diff_versions(open_workspace(workspace).store, old, new)
    console.print(f"Corpus v{diff.old} -> v{diff.new}: {len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed")
    for doc_id in diff.added:
        console.print(f"[green]+ added[/]   {doc_id}", highlight=False)
    for doc_id in diff.removed:
        console.print(f"[red]- removed[/] {doc_id}", highlight=False)
    for change in diff.changed:
        console.print(f"[yellow]~ changed[/] {change.doc_id} (v{change.old_version} -> v{change.new_version})", highlight=False)
        for sentence in change.removed_sentences:
            console.print(f"    [red]- {sentence}[/]", highlight=False, markup=True)
        for sentence in change.added_sentences:
            console.print(f"    [green]+ {sentence}[/]", highlight=False, markup=True)


@app.command()
@user_errors
def sample(
    directory: Annotated[Path, typer.Argument(help="Folder to write the sample documents into.")],
    version: Annotated[int, typer.Option("--version", "-v", help="Sample corpus version: 1 or 2.")] = 1,
) -> None:
    """Write the bundled sample corpus (a fictional company) into a folder, as version 1 or 2.

    Writing version 2 over version 1 edits, adds and deletes files the way a real folder changes,
    so `ragft ingest` on the folder afterwards sees the update.
    """
    from ragft.sample import write_sample

    files = write_sample(directory, version)
    console.print(f"Wrote {len(files)} sample documents (version {version}) to {directory}")
