"""The report: one self-contained HTML file, summary.json beside it, a terminal table, the recommendation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ragft.evaluate.compare import CompareResult
from ragft.report.recommend import recommend_result


def summary(result: CompareResult) -> dict[str, Any]:
    """summary.json: the comparison's measurements with the recommendation they lead to."""
    measured = result.summary_dict()
    return {
        "meta": measured.pop("meta"),
        "requirements": measured.pop("requirements"),
        "recommendation": recommend_result(result).to_dict(),
        **measured,
    }


def write_report(result: CompareResult, out_dir: Path) -> Path:
    """Write `report.html` and `summary.json` into `out_dir`, and each arm's wrong answers beside its answers; returns the HTML path."""
    from ragft.evaluate.errors import write_error_files
    from ragft.report.html import render_html

    out_dir.mkdir(parents=True, exist_ok=True)
    errors = write_error_files(result.run_dir, result.records, result.scores, result.probes)
    measured = {**summary(result), "errors": {arm: str(path) for arm, path in errors.items()}}
    (out_dir / "summary.json").write_text(json.dumps(measured, indent=2, default=str), encoding="utf-8")
    path = out_dir / "report.html"
    path.write_text(render_html(result), encoding="utf-8")
    return path


__all__ = ["summary", "write_report"]
