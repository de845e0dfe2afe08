"""Evaluation throughput against a real llama.cpp server: the client before and after asking for logprobs only where needed.

Run:
  python benchmarks/bench_engine_server.py                       # default model, rag arm, 16 questions
  python benchmarks/bench_engine_server.py --questions 8 --max-new-tokens 16 --arm base

A workspace on the bundled sample corpus (v1) and its questions, the default model (Qwen2.5-Coder
0.5B Q4_K_M GGUF) and the hashing embedder (retrieval is not what is measured), is served by
`python -m llama_cpp.server` from the config `ragft engine-command llama-server` writes. The arm is
built with generator_backend = "openai" and answers every question through the evaluator
(`evaluate.runner.run_arm`): answers/s over the wall time, p50/p95 of each request's own latency,
and whether the answers equal the in-process engine's. Measured in the same run, in turn:
- the in-process llama.cpp engine (concurrency 1), for the ratio;
- the previous client ("logprobs on every token"): one streamed request per answer with
  `logprobs`, from whose first token the candidates came;
- the current client at each `--concurrency`: the answer streams without logprobs, and only RAG's
  answers are preceded by a one-token request for the first token's candidates.

llama-cpp-python's server (0.3.36) has no parallel slots (no n_parallel setting): one lock serialises
every request, so concurrency can only add queueing to each request's latency; the figures show by
how much. Results go to benchmarks/results/engine_server.json (or --out) with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the server launcher is shared with tests/test_engine_server.py
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_engines import machine_info  # noqa: E402 - after the sys.path insert above
from ragft import arms  # noqa: E402
from ragft.cli.engine import engine_plan  # noqa: E402
from ragft.corpus.ingest import ingest  # noqa: E402
from ragft.evaluate.runner import AnswerRecord, run_arm  # noqa: E402
from ragft.models.base import ChatMessage, DecodingSettings, Generation, TokenCallback  # noqa: E402
from ragft.models.openai_backend import OpenAIGenerator  # noqa: E402
from ragft.sample import questions_path, sample_dir  # noqa: E402
from ragft.synth.question_file import load_questions  # noqa: E402
from ragft.types import QAItem, System  # noqa: E402
from ragft.workspace import Workspace  # noqa: E402
from tests.engine_fixtures import free_port, llama_server  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "engine_server.json"
CONCURRENCY = (1, 4)


class EveryTokenLogprobs(OpenAIGenerator):
    """The client as it was before: every answer streamed with logprobs, the candidates read from its first token."""

    def generate(self, messages: Sequence[ChatMessage], settings: DecodingSettings, on_token: TokenCallback | None = None) -> Generation:
        return self._retrying(self._payload(messages, settings), messages, on_token, fields=("repeat_penalty", "logprobs"))


def make_workspace(root: Path, *, threads: int, max_new_tokens: int) -> Workspace:
    ws = Workspace.init(root).with_settings(
        {
            "generator": "default",
            "generator_backend": "llama_cpp",
            "embedder": "hashing",
            "threads": threads,
            "max_new_tokens": max_new_tokens,
        }
    )
    ingest(ws.store, [sample_dir(1)], max_file_mb=50)
    return Workspace.open(root)


def measure(system: System, probes: list[QAItem], path: Path, concurrency: int) -> tuple[dict[str, Any], list[AnswerRecord]]:
    """Answer `probes` (after one untimed warm-up) at `concurrency`; throughput and per-request latency."""
    run_arm(system, probes[:1], path.with_suffix(".warmup.jsonl"), warmup_questions=0)  # the server loads the alias first
    started = time.perf_counter()
    records = run_arm(system, probes, path, warmup_questions=0, concurrency=concurrency)
    wall_s = time.perf_counter() - started
    latencies = sorted(r.timings["total_s"] for r in records)
    ttft = sorted(r.timings.get("time_to_first_token_s", 0.0) for r in records)
    return {
        "concurrency": concurrency,
        "answers": len(records),
        "errors": sum(1 for r in records if r.error),
        "wall_s": round(wall_s, 2),
        "answers_per_s": round(len(records) / wall_s, 3),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(_p95(latencies), 3),
        "ttft_p50_s": round(statistics.median(ttft), 3),
    }, records


def _p95(values: list[float]) -> float:
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=16, help="Sample questions asked at each concurrency.")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--arm", default="rag", choices=("base", "rag"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY), help="Concurrencies for the current client.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Where the results JSON goes.")
    args = parser.parse_args()
    load_start = os.getloadavg()
    probes = [q for q in load_questions(questions_path()) if q.answerable][: args.questions]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "ws", threads=args.threads, max_new_tokens=args.max_new_tokens)
        local, local_records = measure(arms.build(ws, args.arm), probes, Path(tmp) / "local.jsonl", 1)
        local_texts = [r.text for r in local_records]
        local["engine"] = "in-process llama.cpp"
        print(json.dumps(local))
        plan = engine_plan(ws, "llama-server", port=free_port())
        served_ws = ws.with_settings({k: v for k, v in plan.settings.items() if k != "concurrency"})
        with llama_server(plan, Path(tmp) / "server.log", ready_within_s=300):
            system = arms.build(served_ws, args.arm)
            before = arms.build(served_ws, args.arm, generator=EveryTokenLogprobs(plan.base_url, "base"))
            row, records = measure(before, probes, Path(tmp) / "served_before.jsonl", 1)
            rows.append(row | {"engine": "llama_cpp.server (1 slot)", "client": "logprobs on every token (before)"})
            rows[-1]["same_answers_as_in_process"] = [r.text for r in records] == local_texts
            print(json.dumps(rows[-1]))
            for c in args.concurrency:
                row, records = measure(system, probes, Path(tmp) / f"served_c{c}.jsonl", c)
                rows.append(row | {"engine": "llama_cpp.server (1 slot)", "client": "logprobs only for the first token's candidates"})
                rows[-1]["same_answers_as_in_process"] = [r.text for r in records] == local_texts
                print(json.dumps(rows[-1]))
    summary = {
        "command": "python benchmarks/bench_engine_server.py " + " ".join(sys.argv[1:]),
        "arm": args.arm,
        "model": "default (Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF), embedder hashing",
        "questions": len(probes),
        "max_new_tokens": args.max_new_tokens,
        "threads": args.threads,
        "server": "python -m llama_cpp.server (llama-cpp-python 0.3.36), config from `ragft engine-command llama-server`",
        "parallel_slots": "none: llama_cpp.server serialises requests behind one lock (no n_parallel setting)",
        "in_process": local,
        "served": rows,
        "served_over_in_process_latency_p50_at_c1": {r["client"]: round(r["latency_p50_s"] / local["latency_p50_s"], 3) for r in rows[:2]},
        "before_over_after_latency_p50_at_c1": round(rows[0]["latency_p50_s"] / rows[1]["latency_p50_s"], 3),
        "machine": {**machine_info(), "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg()},
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
