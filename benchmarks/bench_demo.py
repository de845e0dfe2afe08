"""Time `ragft demo` end to end, as the README's first command runs it, and record every stage.

    python benchmarks/bench_demo.py [--dir /tmp/ragft-bench-demo]

Runs the real CLI in a subprocess (same models, same defaults), then reads the stage times the
demo writes into its summary.json. Target (issue 5): at most 10 minutes on 2 CPU cores.
Results: benchmarks/results/demo.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TARGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ragft-bench-demo")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ragft", "demo", str(args.dir)], check=True)
    wall = time.perf_counter() - started
    summary = json.loads((args.dir / "report" / "summary.json").read_text(encoding="utf-8"))
    arms = summary["arms"]
    result = {
        "command": f"ragft demo {args.dir}",
        "wall_s": round(wall, 1),
        "target_s": TARGET_S,
        "meets_target": wall <= TARGET_S,
        "stages_s": {k: round(v, 1) for k, v in summary["stages_s"].items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "probes": summary["meta"]["probes"],
        "accuracy": {arm: a["overall"]["accuracy"] for arm, a in arms.items()},
        "latency_p50_s": {arm: a["overall"]["latency_p50_s"]["value"] for arm, a in arms.items()},
        "latency_p95_s": {arm: a["overall"]["latency_p95_s"]["value"] for arm, a in arms.items()},
        "training_note": {arm: a["cost"].get("note") for arm, a in arms.items() if a["cost"].get("training_s")},
        "recommendation": summary["recommendation"]["headline"],
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "demo.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
