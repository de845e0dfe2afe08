"""Ingest throughput: the COVID-QA papers (98 long documents) and the bundled sample corpus.

Run: python benchmarks/bench_ingest.py   (prints a table, writes benchmarks/results/ingest.json)
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from ragft.corpus.ingest import ingest
from ragft.sample import sample_dir
from ragft.workspace import Workspace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
RESULTS = Path(__file__).parent / "results" / "ingest.json"


def measure(name: str, path: Path, repeats: int = 3) -> dict[str, float | int | str]:
    """Best of `repeats` fresh ingests of `path` into a new workspace."""
    best = None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace.init(Path(tmp) / "ws")
            report = ingest(ws.store, [path], max_file_mb=ws.config.corpus.max_file_mb)
            assert not report.failures, report.failures
            if best is None or report.elapsed_s < best.elapsed_s:
                best = report
    assert best is not None
    return {
        "corpus": name,
        "documents": best.documents_seen,
        "megabytes": round(best.bytes_read / 1e6, 3),
        "seconds": round(best.elapsed_s, 3),
        "docs_per_s": round(best.docs_per_s, 1),
        "mb_per_s": round(best.bytes_read / 1e6 / best.elapsed_s, 2),
    }


def main() -> None:
    rows = [
        measure("covid_qa (jsonl, 98 papers)", SHARED / "covid_qa" / "corpus.jsonl"),
        measure("ragft sample v1 (md/html/txt/pdf/docx)", sample_dir(1)),
    ]
    print(f"{'corpus':42} {'docs':>5} {'MB':>7} {'s':>7} {'docs/s':>8} {'MB/s':>7}")
    for r in rows:
        print(f"{r['corpus']:42} {r['documents']:>5} {r['megabytes']:>7} {r['seconds']:>7} {r['docs_per_s']:>8} {r['mb_per_s']:>7}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "measured_at": time.strftime("%Y-%m-%d"),
                "command": "python benchmarks/bench_ingest.py",
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
