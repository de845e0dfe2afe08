"""The demo: the bundled sample corpus, end to end: ingest v1 and v2, probes, training, the comparison, the report."""

from __future__ import annotations

import ctypes
import gc
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from ragft import arms as arm_registry
from ragft.corpus.ingest import ingest
from ragft.evaluate.compare import CompareResult
from ragft.jobs.compare import plan_probes, run_comparison
from ragft.report import write_report
from ragft.sample import write_sample
from ragft.synth.question_file import write_questions
from ragft.workspace import Workspace

# The demo must finish in 10 minutes on two cores (measured: benchmarks/results/demo.json). RAG
# answers cost ~6.5 s each there (prompt prefill), so: two probes per kind, a k sweep whose k=4
# point reuses the main run, two injection probes, and training on the 8 chunks the probes ask
# about first (with 10 chunks and three injection probes it took 615 s once the probes asked about
# glossaries and directories, whose chunks are longer).
DEMO_PROBES = "demo-probes.jsonl"  # in the state folder: the probes, also the training focus
# Training: the demo stands in for a fine-tune on every chunk by training on the chunks its probes
# ask about (focus first), as many as `budget_minutes` of this machine's measured training speed
# covers, so a slow CPU covers fewer chunks instead of overrunning. The full recipe (every fact of
# a chunk, 4 paraphrases, a rewrite and the raw text, 5 epochs) costs ~14k tokens per epoch on the
# demo's 10 probed chunks: on 2 AVX2 cores in fp32 (~50-65 training tokens/s) one minute covered
# one chunk, and that took 275 s, not 60 (the previous session's demo, 1,706 s in all). Here each chunk
# gives its one probed fact (`focus` puts it first) asked 2 ways plus 1 reverse question, no raw
# text: ~280 tokens per chunk per epoch, 3 epochs in steps of 4 examples, so 2 minutes covers the
# probed chunks. The hybrid arm's RAFT examples (~660 tokens each with one distractor, ~460 without)
# are capped at 4, in steps of 2, on the first fact of the first chunks (the probed ones, as the
# fine-tuned arm learns); the budget drops the distractor before it cuts an example, never below 4
# (`train.budget.RAFT_FLOOR`: cut to 2 they left an adapter at 31%, below RAG's 62%).
# The trained arms' diagnostics ask 4 questions per split (20 took 324 s of the demo's time).
DEMO_SETTINGS = {
    "probes_per_kind": 2,
    "noise_ks": [1, 4],
    "noise_probes": 4,
    "injection_probes": 2,
    "recall_questions": 4,
    "budget_minutes": 2.0,
    "max_chunks": 10,
    "facts_per_chunk": 1,
    "paraphrases": 2,
    "rewrites": 0,
    "raw_chunks": False,
    "epochs": 3,
    "batch_size": 4,
    "raft_examples": 4,
    "raft_batch_size": 2,
    "raft_epochs": 2,
}


def release_memory() -> None:
    """Collect garbage, then hand the C heap's free pages back to the OS (glibc's `malloc_trim`; elsewhere a no-op).

    Training frees gigabytes of activations, but glibc keeps freed heap pages mapped for reuse,
    so without this they stay in the process's resident memory through every later stage.
    """
    gc.collect()
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return
    trim(0)


def prepare_demo_workspace(directory: Path) -> Workspace:
    """A fresh workspace in `directory` whose ragft.toml has demo-sized evaluation and training settings."""
    if (directory / "ragft.toml").exists():  # a previous demo: start over (the demo owns this folder)
        shutil.rmtree(directory / ".ragft", ignore_errors=True)
        shutil.rmtree(directory / "report", ignore_errors=True)
        (directory / "ragft.toml").unlink()
    return Workspace.init(directory).with_settings(DEMO_SETTINGS, note="demo-sized")


def run_demo(
    directory: Path,
    *,
    arms: Sequence[str] | None = None,
    train: Callable[[Workspace, str, int], None],
    console: Console | None = None,
    settings: Mapping[str, Any] | None = None,
) -> tuple[CompareResult, Path]:
    """Sample v1 and v2 → probes → train on v1 → compare on v1 with freshness to v2 → report. Returns the report path.

    The demo trains on a few chunks to finish in minutes; it picks the chunks its probes ask
    about first (`[training] focus_questions`), standing in for a fine-tune on every chunk, so
    the fine-tuned arms are judged on facts they were taught, not on coverage.
    """
    console = console or Console()
    directory = directory.expanduser().resolve()
    ws = prepare_demo_workspace(directory)
    if settings:  # e.g. tests: tiny models
        ws = ws.with_settings(settings)
    stages: dict[str, float] = {}
    docs = ws.root / "docs"

    for version in (1, 2):
        started = time.perf_counter()
        write_sample(docs, version)
        ingest(ws.store, [docs], max_file_mb=ws.config.corpus.max_file_mb, note=f"sample v{version}")
        stages[f"ingest v{version}"] = time.perf_counter() - started
    started = time.perf_counter()
    plan = plan_probes(ws, 1, per_kind=ws.config.evaluation.probes_per_kind, seed=ws.config.evaluation.seed)
    probes_file = write_questions(plan.items, ws.state_dir / DEMO_PROBES)
    ws = ws.with_settings({"focus_questions": probes_file.relative_to(ws.root).as_posix()}, note="demo: train on what the probes ask")
    stages["generate probes"] = time.perf_counter() - started
    arms = arm_registry.parse_arms(arms or arm_registry.default_arms())
    for adapter in arm_registry.adapters_needed(arms):
        console.rule(f"training the {adapter} adapter on corpus v1")
        started = time.perf_counter()
        train(ws, adapter, 1)
        release_memory()  # the training model and its activations are gone: give their pages back before the next stage
        stages[f"train {adapter}"] = time.perf_counter() - started

    console.rule("comparing " + ", ".join(arms))
    out_dir = ws.root / "report"
    result = run_comparison(ws, arms=arms, out_dir=out_dir, version=1, stages_s=stages, say=console.print, plan=plan)
    return result, write_report(result, out_dir)


__all__ = ["DEMO_PROBES", "DEMO_SETTINGS", "prepare_demo_workspace", "release_memory", "run_demo"]
