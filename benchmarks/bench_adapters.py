"""Peak memory and answers of a four-arm comparison (base, rag, finetuned, hybrid) on llama.cpp.

    python benchmarks/bench_adapters.py --workspace WS [--before-src DIR] [--rounds 2] [--probes 4]

WS is a workspace whose finetuned and hybrid adapters are trained (e.g. a copy of a `ragft demo`
workspace; it is only read). Each measurement runs in a fresh process (peak RSS is per process):
the arms are built with `ragft.arms.build_all`, as a comparison builds them, and each arm answers
the first `--probes` probes of WS/.ragft/demo-probes.jsonl greedily. With `--before-src` (a
checkout of ragft's src/ from before one base model served every arm, e.g. made with
`git archive <commit> src | tar -x -C DIR`), the old and the new code run alternately, round by
round (old, new, old, new, ...), so that load from other processes falls on both alike, and the
answers of every arm are compared text for text.

It also times, on the new code, what switching adapters costs: decode tokens/s of each arm (an
unmerged LoRA adds work to every token), and answering the same probes arm by arm versus
switching arm at every probe (a switch clears the cached prompt prefix). Results are added to
benchmarks/results/engines.json under "llama_cpp_adapters".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_engines import RESULTS, machine_info

ARMS = ("base", "rag", "finetuned", "hybrid")


def child(workspace: Path, probes: int, switching: bool) -> dict[str, Any]:
    """Build the four arms in this process, answer the probes, report answers, times and peak RSS."""
    from ragft.arms import build_all
    from ragft.systems.build import index_corpus
    from ragft.workspace import Workspace

    ws = Workspace.open(workspace)
    rows = [json.loads(line) for line in (workspace / ".ragft" / "demo-probes.jsonl").read_text().splitlines()[:probes]]
    started = time.perf_counter()
    systems = build_all(ws, ARMS, index_corpus(ws))
    out: dict[str, Any] = {"build_s": time.perf_counter() - started, "answers": {}, "answer_s": {}}
    for arm, system in systems.items():
        system.answer(rows[0]["question"])  # warm-up, as the evaluation runner does
        answers = [system.answer(r["question"]) for r in rows]
        out["answers"][arm] = [a.text for a in answers]
        out["answer_s"][arm] = [a.timings.get("total_s", 0.0) for a in answers]
    if switching:
        out["switching"] = switching_cost(systems, [r["question"] for r in rows])
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def switching_cost(systems: Any, questions: list[str]) -> dict[str, Any]:
    """Answer time arm by arm vs switching arm at every question (interleaved), and decode tokens/s per arm."""
    grouped: dict[str, list[float]] = {a: [] for a in systems}
    switched: dict[str, list[float]] = {a: [] for a in systems}
    decode: dict[str, list[float]] = {a: [] for a in systems}
    for q in questions:
        for arm, system in systems.items():  # the arm changes at every call
            switched[arm].append(_timed(system, q, decode[arm]))
        for arm, system in systems.items():  # the same arm twice in a row: the second call is "grouped"
            system.answer(q)
            grouped[arm].append(_timed(system, q, decode[arm]))
    return {
        arm: {
            "grouped_p50_s": statistics.median(grouped[arm]),
            "switched_p50_s": statistics.median(switched[arm]),
            "decode_tokens_per_s_p50": statistics.median(decode[arm]),
        }
        for arm in systems
    }


def _timed(system: Any, question: str, decode: list[float]) -> float:
    start = time.perf_counter()
    answer = system.answer(question)
    elapsed = time.perf_counter() - start
    tokens = answer.trace.get("completion_tokens")
    decode_s = answer.timings.get("generate_s", 0.0) - answer.timings.get("prefill_s", 0.0)
    if tokens and decode_s > 0:
        decode.append(tokens / decode_s)
    return elapsed


def run(src: Path, workspace: Path, probes: int, switching: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--child", "--workspace", str(workspace), "--probes", str(probes)] + (
        ["--switching"] if switching else []
    )
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--before-src", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--probes", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--switching", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.workspace, args.probes, args.switching)))
        return
    after_src = Path(__file__).resolve().parents[1] / "src"
    sides = {"before": args.before_src, "after": after_src} if args.before_src else {"after": after_src}
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    load_start = os.getloadavg()
    for i in range(args.rounds):
        for side, src in sides.items():
            runs[side].append(run(src, args.workspace, args.probes, switching=side == "after" and i == 0))
            print(
                side, f"round {i + 1}: peak RSS {runs[side][-1]['peak_rss_mb']:.0f} MB, build {runs[side][-1]['build_s']:.1f} s", flush=True
            )
    out: dict[str, Any] = {
        side: {
            "peak_rss_mb": [r["peak_rss_mb"] for r in rs],
            "build_s": [r["build_s"] for r in rs],
            "answer_p50_s": {a: statistics.median(t for r in rs for t in r["answer_s"][a]) for a in ARMS},
        }
        for side, rs in runs.items()
    }
    out["switching"] = runs["after"][0]["switching"]
    if "before" in runs:
        same = {
            a: statistics.mean(x == y for x, y in zip(runs["before"][0]["answers"][a], runs["after"][0]["answers"][a], strict=True))
            for a in ARMS
        }
        out["same_text_before_after"] = same
        print("same answer text before/after per arm:", same)
    out["answers_after"] = runs["after"][0]["answers"]
    out.update(
        probes=args.probes,
        rounds=args.rounds,
        command="python benchmarks/bench_adapters.py " + " ".join(sys.argv[1:]),
        machine={**machine_info(), "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg()},
    )
    print(json.dumps({k: out[k] for k in ("switching", *sides)}, indent=1))
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    results["llama_cpp_adapters"] = out
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
