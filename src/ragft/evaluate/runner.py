"""Every arm answers every probe; each answer is one JSON line, so a killed run resumes where it stopped.

One file per arm and stage (`answers_path(run_dir, arm, stage)`: `<run_dir>/<arm>.jsonl` for the
main run, `<run_dir>/<stage>/<arm>.jsonl` for the noise sweep, freshness and judge). A line is written and fsynced as soon as its answer is
in, so a kill loses at most the answer in flight; on resume, items already in the file are skipped
and a half-written last line is cut off. An answer that raises, or takes longer than the timeout,
is recorded with its `error` and scored as wrong: failures are never dropped.

The timeout is checked after the answer returns (a generator call cannot be interrupted safely
mid-token on every backend), so a slow item still costs its time but can never count as right.

With `[evaluation] concurrency` above 1, an arm whose generator takes concurrent requests (a
batching server behind generator_backend = "openai") answers that many probes at once from a
thread pool. Each record's latency is still measured around its own request, and records are
written in probe order as soon as every earlier probe's is in (a kill loses only those waiting).
In-process engines answer one at a time: `concurrency_for` says so, and the run records it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ragft.types import QAItem, System, User

OUTSIDER = User("outsider", frozenset())  # restricted probes are asked by someone in no group


@dataclass(frozen=True)
class AnswerRecord:
    """One arm's answer to one probe, exactly as the report and summary.json will use it."""

    arm: str
    qid: str
    kind: str
    question: str
    text: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)
    refused: bool = False
    trace: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    user: str | None = None
    knows_version: int | None = None  # the corpus version this arm should answer from

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=str)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AnswerRecord:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


def asker_for(item: QAItem) -> User | None:
    """Who asks `item`: restricted probes come from an outsider; others from an anonymous user."""
    return OUTSIDER if item.kind == "restricted" else None


def read_records(path: Path) -> list[AnswerRecord]:
    """The complete records in an arm's answer file (a torn last line from a kill is ignored)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(AnswerRecord.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue
    return records


def _cut_torn_tail(path: Path) -> None:
    """Drop a partial last line left by a kill mid-write, so appends start on a fresh line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def answer_one(system: System, item: QAItem, *, knows_version: int | None = None, timeout_s: float | None = None) -> AnswerRecord:
    """Ask `system` one probe as the right user; never raises for a failing system."""
    user = asker_for(item)
    base = AnswerRecord(
        arm=system.name, qid=item.qid, kind=item.kind, question=item.question, user=user.name if user else None, knows_version=knows_version
    )
    started = time.perf_counter()
    try:
        answer = system.answer(item.question, user=user)
    except Exception as exc:  # any failure is a wrong answer, recorded with its reason
        elapsed = time.perf_counter() - started
        return _replace(base, error=f"{type(exc).__name__}: {exc}", timings={"total_s": elapsed})
    elapsed = time.perf_counter() - started
    timings = {k: float(v) for k, v in dict(answer.timings).items()}
    timings.setdefault("total_s", elapsed)
    error = None
    if timeout_s is not None and timings["total_s"] > timeout_s:
        error = f"timed out: {timings['total_s']:.1f} s > {timeout_s:g} s"
    return _replace(
        base,
        text=answer.text,
        citations=[asdict(c) for c in answer.citations],
        refused=bool(answer.refused),
        trace=json.loads(json.dumps(dict(answer.trace), default=str)),
        timings=timings,
        error=error,
    )


def _replace(record: AnswerRecord, **changes: Any) -> AnswerRecord:
    return AnswerRecord(**{**asdict(record), **changes})


def concurrency_for(system: System, requested: int) -> int:
    """How many probes `system` answers at once: `requested` if its generator takes concurrent requests, else 1.

    Only a generator that says so (`concurrent_requests = True`: the OpenAI-compatible backend,
    one HTTP request per call) gets more than one. The in-process engines hold one model and answer
    under a lock: parallel calls would only queue, and each answer's latency would include the wait.
    """
    generator = getattr(system, "generator", None)
    return max(1, requested) if getattr(generator, "concurrent_requests", False) else 1


def _answers(system: System, todo: Sequence[QAItem], concurrency: int, **options: Any) -> Iterator[AnswerRecord]:
    """Records for `todo`, in its order; with `concurrency` > 1 up to that many requests are in flight at once."""
    if concurrency <= 1:
        for item in todo:
            yield answer_one(system, item, **options)
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"ragft-{system.name}") as pool:
        # map() submits every item at once and yields results in order: each is written once its predecessors are.
        yield from pool.map(lambda item: answer_one(system, item, **options), todo)


def run_arm(
    system: System,
    probes: Sequence[QAItem],
    path: Path,
    *,
    knows_version: int | None = None,
    timeout_s: float | None = None,
    warmup_questions: int = 1,
    progress: Progress | None = None,
    concurrency: int = 1,
) -> list[AnswerRecord]:
    """Answer every probe not yet in `path`, appending each record; returns all records in probe order.

    `concurrency` is the most requests in flight at once (see `concurrency_for`; the caller decides).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _cut_torn_tail(path)
    done = {r.qid: r for r in read_records(path)}
    todo = [item for item in probes if item.qid not in done]
    task = progress.add_task(system.name, total=len(probes), completed=len(probes) - len(todo)) if progress else None
    if todo:
        for item in todo[:warmup_questions]:  # load weights and caches before anything is timed
            answer_one(system, item)
    with path.open("a", encoding="utf-8") as out:
        for item, record in zip(todo, _answers(system, todo, concurrency, knows_version=knows_version, timeout_s=timeout_s), strict=True):
            out.write(record.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
            done[item.qid] = record
            if progress is not None and task is not None:
                progress.advance(task)
    return [done[item.qid] for item in probes]


def progress_bar(console: Console | None = None, *, enabled: bool = True) -> Progress:
    """The per-arm progress bar the runner shows (disabled: a no-op for tests and CI logs)."""
    return Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def reuse_records(
    answered: Mapping[str, Sequence[AnswerRecord]] | None,
    arm: str,
    probes: Sequence[QAItem],
    *,
    knows_version: int | None = None,
) -> list[AnswerRecord] | None:
    """`arm`'s earlier records for exactly `probes` (in order), re-labelled with `knows_version`; None if any is missing.

    An unchanged system answers a probe it already answered the same way (greedy decoding), so a
    later measurement may take the earlier answer instead of paying for it again.
    """
    by_qid = {r.qid: r for r in (answered or {}).get(arm, ())}
    if any(item.qid not in by_qid for item in probes):
        return None
    records = [by_qid[item.qid] for item in probes]
    return records if knows_version is None else [replace(r, knows_version=knows_version) for r in records]


def run_arms(
    systems: Mapping[str, System],
    probes: Sequence[QAItem],
    run_dir: Path,
    *,
    knows_version: Mapping[str, int] | int | None = None,
    timeout_s: float | None = None,
    warmup_questions: int = 1,
    show_progress: bool = True,
    concurrency: int = 1,
) -> dict[str, list[AnswerRecord]]:
    """Every arm answers every probe (one arm after another, same machine), resumably, into `run_dir`.

    Each arm sends up to `concurrency_for(system, concurrency)` probes at once.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_probes(run_dir / "probes.jsonl", probes)
    results: dict[str, list[AnswerRecord]] = {}
    with progress_bar(enabled=show_progress) as progress:
        for name, system in systems.items():
            version = knows_version.get(name) if isinstance(knows_version, Mapping) else knows_version
            results[name] = run_arm(
                system,
                probes,
                answers_path(run_dir, name),
                knows_version=version,
                timeout_s=timeout_s,
                warmup_questions=warmup_questions,
                progress=progress,
                concurrency=concurrency_for(system, concurrency),
            )
    return results


MAIN = ""  # the main run's stage: answers straight in the run folder


def answers_path(run_dir: Path, arm: str, stage: str = MAIN) -> Path:
    """The one place an arm's answer file is named: `<run_dir>[/<stage>]/<arm>.jsonl`, the arm's name made file-safe.

    `stage` is a relative folder such as "noise/k1", "freshness/after" or "judge"; every writer and
    every reader (summary.json, the report) gets the path from here, so they always agree.
    """
    return (run_dir / stage if stage else run_dir) / f"{_safe(arm)}.jsonl"


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _write_probes(path: Path, probes: Iterable[QAItem]) -> None:
    lines = [json.dumps({**asdict(item), "meta": dict(item.meta)}, ensure_ascii=False) for item in probes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
