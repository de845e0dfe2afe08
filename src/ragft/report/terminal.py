"""The summary table printed at the end of every comparison."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ragft.evaluate.compare import CompareResult
from ragft.report.recommend import recommend_result
from ragft.report.taught import taught_lines

COLUMNS = (
    ("accuracy", True),
    ("token_f1", True),
    ("refusal_recall", True),
    ("confidently_wrong", True),
    ("citation_precision", True),
    ("leak_rate", True),
    ("latency_p95_s", False),
)


def summary_table(result: CompareResult) -> Table:
    """One row per arm: the headline metrics with their 95% intervals."""
    table = Table(title="ragft compare — 95% intervals in brackets")
    table.add_column("arm", style="bold")
    for name, _ in COLUMNS:
        table.add_column(name.replace("_", " "), justify="right")
    spreads = result.seed_spreads()
    if spreads:  # seed 0 in the other columns; here every seed of a trained arm
        table.add_column("accuracy over seeds: mean [min–max] sd", justify="right")
    for arm, summary in result.summaries.items():
        cells = []
        for name, percent in COLUMNS:
            i = summary.overall[name]
            cells.append("n/a" if not i.n else i.fmt(digits=0) if percent else f"{i.value:.2f} s")
        if spreads:
            s = spreads.get(arm)
            cells.append(f"{s.mean:.0%} [{s.low:.0%}–{s.high:.0%}] {s.sd * 100:.1f} pts, {len(s.accuracies)} seeds" if s else "–")
        table.add_row(arm, *cells)
    return table


def print_summary(result: CompareResult, console: Console | None = None) -> None:
    """Print the table and the recommendation headline with its reasons."""
    console = console or Console()
    console.print(summary_table(result))
    rec = recommend_result(result)
    console.print(f"[bold]Recommendation:[/] {escape(rec.headline)}")  # a lever names settings like [retrieval] k
    for reason in rec.reasons:
        console.print(f"  • {reason.text}", highlight=False, markup=False)
    for spread in result.seed_spreads().values():
        console.print(f"Seeds: {spread.text()} (the paired tests use the majority)", highlight=False, markup=False)
    for crossing in result.crossovers():
        console.print(f"Cost crossover: {crossing.text()}", highlight=False, markup=False)
    for line in taught_lines(result):
        console.print(f"Judged on what it was taught: {line}", highlight=False, markup=False)
    if result.domain is not None and not result.domain.measured:
        console.print(f"Domain distance: perplexity not measured: {result.domain.not_measured}", highlight=False, markup=False)
