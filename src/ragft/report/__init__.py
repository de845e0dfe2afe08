"""The report: one self-contained HTML file, summary.json beside it, a terminal table, the recommendation."""

from __future__ import annotations

import json
from pathlib import Path

from ragft.evaluate.compare import CompareResult


def write_report(result: CompareResult, out_dir: Path) -> Path:
    """Write `report.html` and `summary.json` into `out_dir`, and each arm's wrong answers beside its answers; returns the HTML path."""
    from ragft.evaluate.errors import write_error_files
    from ragft.report.html import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    errors = write_error_files(result.run_dir, result.records, result.scores, result.probes)
    summary = {**result.summary_dict(), "errors": {arm: str(path) for arm, path in errors.items()}}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    path = out_dir / "report.html"
    path.write_text(render_html(result), encoding="utf-8")
    return path


__all__ = ["write_report"]
