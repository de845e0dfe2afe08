"""Commands that build and judge arms: train, compare, demo."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ragft import arms as arm_registry
from ragft.cli.common import WorkspaceOption, app, console, open_workspace, user_errors
from ragft.workspace import Workspace


def _train(
    ws: Workspace, arm: str, *, resume: bool = False, version: int | None = None, budget: str | None = None, pairs: Path | None = None
) -> None:
    from ragft.train.arms import train_arm, training_progress
    from ragft.train.budget import parse_budget

    minutes = parse_budget(budget) if budget is not None else None  # a bad value fails before any work
    with training_progress() as progress:
        result = train_arm(
            ws,
            arm,
            resume=resume,
            progress=progress,
            version=version,
            budget_minutes=minutes,
            pairs_file=pairs,
            say=lambda text: console.print(text, highlight=False),
        )
    m, cov, plan = result.metrics, result.manifest.coverage, result.manifest.plan
    team = f", {cov.get('team_pairs', 0)} team pairs ({sum(cov.get('team_pairs_dropped', {}).values())} dropped)" if pairs else ""
    console.print(
        f"Trained [bold]{arm}[/] on corpus v{result.manifest.corpus_version}: {cov['chunks_used']}/{plan.get('chunks_total', cov['chunks_total'])} "
        f"chunks, {cov['facts']} facts, {cov['questions']} questions, {cov.get('passages', 0)} passages{team}; {m.train_examples} examples, "
        f"{m.steps} steps, {m.tokens:,} tokens, {m.epochs_run} epochs, {m.wall_s:.0f} s ({m.tokens_per_s:.0f} tokens/s), "
        f"best validation loss {m.best_val_loss}; adapter in {result.directory}"
    )


@app.command()
@user_errors
def train(
    arm: Annotated[str, typer.Option("--arm", "-a", help=f"The arm to train: {' | '.join(arm_registry.trained_arms())}.")] = "finetuned",
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its last checkpoint.")] = False,
    budget: Annotated[
        str | None,
        typer.Option(
            "--budget",
            "-b",
            help="Training minutes on this machine, or a preset: smoke | default | gpu (default: budget_minutes in ragft.toml).",
        ),
    ] = None,
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help="The team's own question/answer pairs (JSONL, the question-file shape) to train on too.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Train an arm on the latest corpus version: plan the budget, synthesize the data, LoRA, save PEFT + GGUF adapters.

    It first measures this machine's training speed and says what the run will cover and cost: every
    chunk if the budget allows, else a seeded sample. Settings are in ragft.toml [training]. A killed
    run continues with --resume; the previous adapter stays in place until the new one is complete.
    """
    _train(open_workspace(workspace), arm, resume=resume, budget=budget, pairs=pairs)


@app.command("compare")
@user_errors
def compare_command(
    arms: Annotated[
        list[str] | None,
        typer.Option(
            "--arms", help=f"Arms to compare, comma-separated or repeated: {arm_registry.choices_help()}. Default: all available."
        ),
    ] = None,
    questions: Annotated[Path | None, typer.Option("--questions", "-q", help="A JSONL question file instead of generated probes.")] = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Corpus version the arms are built on; newer versions measure freshness.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for report.html, summary.json and the answers.")] = None,
    domain: Annotated[bool, typer.Option("--domain/--no-domain", help="Measure the base model's perplexity on the corpus.")] = True,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds",
            min=1,
            help="Training seeds per trained arm (default: [evaluation] seeds): seeds 1.. are trained on the installed "
            "adapter's data (cached while seed and data are unchanged); the report gives each arm's spread over seeds and "
            "the paired tests count a probe right by a majority of seeds. Use an odd number.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Compare the arms on this workspace: every arm answers the same probes; report and recommendation.

    Probes are generated from the corpus (facts, paraphrases, typos, unanticipated wording, multi-document,
    out-of-scope, changed facts, restricted) unless --questions gives a file. An interrupted run resumes.
    """
    from ragft.jobs import check_comparison, run_comparison
    from ragft.report import write_report
    from ragft.report.terminal import print_summary

    chosen = arm_registry.parse_arms(arms) if arms else None  # bad names fail before the workspace is even opened
    ws = open_workspace(workspace)
    chosen = chosen or arm_registry.available_arms(ws)
    check_comparison(ws, chosen, questions=questions, version=version)  # every argument checked before any work
    out_dir = (out or ws.root / "runs" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    result = run_comparison(
        ws, arms=chosen, out_dir=out_dir, questions=questions, version=version, measure_domain=domain, say=console.print, seeds=seeds
    )
    report = write_report(result, out_dir)
    print_summary(result, console)
    console.print(f"Report: [bold]{report}[/]  (summary.json beside it; answers in {result.run_dir})")


@app.command()
@user_errors
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo workspace (replaced if it holds an earlier demo).")] = Path(
        "ragft-demo"
    ),
    arms: Annotated[
        list[str] | None,
        typer.Option("--arms", help=f"Arms to build, comma-separated or repeated. Default: {' '.join(arm_registry.default_arms())}."),
    ] = None,
) -> None:
    """The main job on the bundled sample corpus, end to end, in minutes on a laptop CPU.

    Creates a workspace, ingests version 1 of a fictional company's documents, builds every arm
    (base, RAG, fine-tuned, hybrid), applies version 2 (changed facts, added and removed documents),
    compares the arms on generated probes with freshness, latency, cost and access leakage, and
    writes an HTML report with a recommendation.
    """
    from ragft.jobs import run_demo
    from ragft.report.terminal import print_summary

    chosen = arm_registry.parse_arms(arms) if arms else arm_registry.default_arms()
    started = time.perf_counter()
    result, report = run_demo(directory, arms=chosen, train=lambda ws, arm, version: _train(ws, arm, version=version), console=console)
    print_summary(result, console)
    console.print(f"\nDemo finished in {time.perf_counter() - started:.0f} s. Report: [bold]{report}[/]")
