"""Time `ragft demo` end to end, as the README's first command runs it, and trace its memory stage by stage.

    python benchmarks/bench_demo.py [--dir /tmp/ragft-bench-demo] [--label after]

Runs the real CLI in a subprocess (same models, same defaults) and, while it runs, samples the
child's resident memory (VmRSS) and the machine's load average every half second. Each line the
demo prints is timestamped, so the trace is cut into stages at the lines that start one (the
training rules, the probe count before indexing, each later stage's own line): the peak RSS of
every stage says where the memory goes. The stage times come from the summary.json the demo
writes. Targets (issue 15): at most 10 minutes and 4 GB on 2 CPU cores without bf16 units.
Results: benchmarks/results/demo.json (the previous runs are kept under "runs", newest last).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_engines import cpu_limit_flops, machine_info, prefill_flops_per_token

RESULTS = Path(__file__).parent / "results"
TARGET_S = 600.0
TARGET_RSS_MB = 4096.0
SAMPLE_S = 0.5
# A line the demo prints as a stage starts -> the stage's name in the trace.
STAGE_STARTS = (
    (re.compile(r"training the (\w+) adapter"), "train {0}"),
    (re.compile(r"^\d+ probes: "), "index corpus + load arms"),
    (
        re.compile(
            r"^(answer probes|retrieval-noise sweep|freshness|prompt injection|domain distance|what trained arms were taught|LLM judge): (?!done)"
        ),
        "{0}",
    ),
)


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MB (0 when it has ended)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def sample(pid: int, trace: list[tuple[float, float, float]], done: threading.Event, started: float) -> None:
    """Append (seconds since start, RSS MB, 1-minute load) every SAMPLE_S until `done`."""
    while not done.wait(SAMPLE_S):
        trace.append((time.perf_counter() - started, rss_mb(pid), os.getloadavg()[0]))


def run_demo(directory: Path) -> tuple[float, list[tuple[float, str]], list[tuple[float, float, float]]]:
    """Run `ragft demo`: (wall s, timestamped output lines, memory/load trace)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "ragft", "demo", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    trace: list[tuple[float, float, float]] = []
    done = threading.Event()
    sampler = threading.Thread(target=sample, args=(child.pid, trace, done, started), daemon=True)
    sampler.start()
    lines: list[tuple[float, str]] = []
    assert child.stdout is not None
    for line in child.stdout:
        lines.append((time.perf_counter() - started, line.rstrip("\n")))
        print(line, end="", flush=True)
    code = child.wait()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if code:
        raise SystemExit(f"ragft demo exited with {code}")
    return wall, lines, trace


def stage_memory(lines: list[tuple[float, str]], trace: list[tuple[float, float, float]], wall: float) -> list[dict[str, Any]]:
    """The trace cut at the lines that start a stage: each stage's start, peak and final RSS."""
    starts: list[tuple[float, str]] = [(0.0, "ingest + probes")]
    for at, line in lines:
        text = line.strip(" ─-")
        for pattern, name in STAGE_STARTS:
            match = pattern.search(text)
            if match:
                starts.append((at, name.format(*match.groups())))
                break
    out = []
    for (begin, name), (end, _) in zip(starts, [*starts[1:], (wall, "")], strict=True):
        inside = [rss for t, rss, _ in trace if begin <= t < end]
        out.append(
            {
                "stage": name,
                "start_s": round(begin, 1),
                "seconds": round(end - begin, 1),
                "peak_rss_mb": round(max(inside, default=0.0), 1),
                "end_rss_mb": round(inside[-1], 1) if inside else 0.0,
            }
        )
    return out


def training_speed(directory: Path) -> dict[str, Any]:
    """Per trained arm: the speed the budget planned with, the speed the loop ran at, and this CPU's fp32 limit.

    A LoRA step with gradient checkpointing multiplies each computed token by every layer weight three
    times (forward, recomputed forward, backward to the activations; the frozen weights get no
    gradient), and each answer token also by the LM head twice (forward, backward).
    """
    from gguf import GGUFReader

    from ragft.models.default_model import builtin_gguf_path

    gguf = builtin_gguf_path("default")
    layer_flops = prefill_flops_per_token(gguf)  # 2 x layer weights
    head = next(t for t in GGUFReader(str(gguf)).tensors if t.name in ("output.weight", "token_embd.weight"))
    head_flops = 2.0 * int(head.n_elements)  # 2 x the LM head (tied to the embeddings in the default model)
    limit, formula = cpu_limit_flops(os.cpu_count() or 1)
    out: dict[str, Any] = {}
    for manifest in sorted((directory / ".ragft" / "adapters").glob("*/manifest.json")):
        data = json.loads(manifest.read_text(encoding="utf-8"))
        m, plan = data["metrics"], data.get("plan") or {}
        flops = 3 * layer_flops * m["computed_tokens"] + 2 * head_flops * m["answer_tokens"]
        out[data["arm"]] = {
            "planned_tokens_per_s": plan.get("tokens_per_s"),
            "trained_tokens_per_s": round(m["tokens_per_s"], 1),
            "computed_tokens_per_s": round(m["computed_tokens"] / m["wall_s"], 1) if m["wall_s"] else None,
            "tokens": m["tokens"],
            "computed_tokens": m["computed_tokens"],
            "answer_tokens": m["answer_tokens"],
            "wall_s": round(m["wall_s"], 1),
            "budget_minutes": plan.get("budget_minutes"),
            "chunks_covered": plan.get("chunks_covered"),
            "share_of_cpu_limit": round(flops / m["wall_s"] / limit, 3) if m["wall_s"] else None,
            "limit_formula": f"{formula}; per computed token 3 x {layer_flops / 2e6:.0f}M layer weights x 2, per answer token 2 x {head_flops / 2e6:.0f}M head weights x 2",
        }
    return out


def answer_speed(directory: Path) -> dict[str, Any]:
    """Per arm, from the demo's answer records: prompt and reply lengths, prefill and decode tokens/s (medians).

    Decode is (reply tokens - 1) / (generation time - time to the first token). An adapter arm and the
    arm without it read the same prompts (finetuned ~ base, hybrid ~ rag), so their decode ratio is the
    cost of applying an unmerged LoRA to every generated token.
    """
    import statistics

    out: dict[str, Any] = {}
    for path in sorted((directory / "report" / "answers").glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [r for r in rows if r.get("arm") == path.stem and r.get("timings") and r.get("trace")]
        if not rows:
            continue
        decode = [
            (r["trace"]["completion_tokens"] - 1) / (r["timings"]["generate_s"] - r["timings"]["time_to_first_token_s"])
            for r in rows
            if r["trace"].get("completion_tokens", 0) > 4 and r["timings"]["generate_s"] > r["timings"]["time_to_first_token_s"]
        ]
        out[path.stem] = {
            "answers": len(rows),
            "prompt_tokens_p50": statistics.median(r["trace"].get("prompt_tokens", 0) for r in rows),
            "reply_tokens_p50": statistics.median(r["trace"].get("completion_tokens", 0) for r in rows),
            "time_to_first_token_p50_s": round(statistics.median(r["timings"]["time_to_first_token_s"] for r in rows), 3),
            "decode_tokens_per_s_p50": round(statistics.median(decode), 1) if decode else None,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ragft-bench-demo")
    parser.add_argument("--label", default="", help="a name for this run in demo.json (e.g. before, after)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    wall, lines, trace = run_demo(args.dir)
    summary = json.loads((args.dir / "report" / "summary.json").read_text(encoding="utf-8"))
    arms = summary["arms"]
    taught = summary.get("taught", {}).get("arms", {})
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    loads = [load for _, _, load in trace]
    result = {
        "label": args.label,
        "command": f"python benchmarks/bench_demo.py --dir {args.dir}" + (f" --label {args.label}" if args.label else ""),
        "wall_s": round(wall, 1),
        "target_s": TARGET_S,
        "meets_target": wall <= TARGET_S,
        "peak_rss_mb": round(peak, 1),
        "target_rss_mb": TARGET_RSS_MB,
        "meets_rss_target": peak <= TARGET_RSS_MB,
        "stages_s": {k: round(v, 1) for k, v in summary["stages_s"].items()},
        "memory_by_stage": stage_memory(lines, trace, wall),
        "probes": summary["meta"]["probes"],
        "accuracy": {arm: a["overall"]["accuracy"] for arm, a in arms.items()},
        "accuracy_on_covered_probes": {
            arm: {k: t.get(k) for k in ("covered", "answerable", "accuracy_covered", "accuracy_all")} for arm, t in taught.items()
        },
        "latency_p50_s": {arm: a["overall"]["latency_p50_s"]["value"] for arm, a in arms.items()},
        "latency_p95_s": {arm: a["overall"]["latency_p95_s"]["value"] for arm, a in arms.items()},
        "training_speed": training_speed(args.dir),
        "answer_speed": answer_speed(args.dir),
        "training_note": {arm: a["cost"].get("note") for arm, a in arms.items() if a["cost"].get("training_s")},
        "recommendation": summary["recommendation"]["headline"],
        "machine": {
            **machine_info(),
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(),
            "load_1min_mean_during": round(sum(loads) / len(loads), 2) if loads else None,
            "load_1min_max_during": round(max(loads), 2) if loads else None,
        },
    }
    path = RESULTS / "demo.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    runs = previous.pop("runs", [])
    if previous:
        runs.append(previous)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, "runs": runs}, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
