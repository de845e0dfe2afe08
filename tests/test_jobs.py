"""`ragft compare` end to end on tiny models: probes, every arm, freshness, report files, recommendation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragft.cli import app
from ragft.jobs import prepare_demo_workspace, run_comparison
from ragft.report.recommend import recommend_result
from ragft.sample import write_sample
from ragft.workspace import Workspace

from .conftest import set_setting

runner = CliRunner()


@pytest.fixture
def sample_ws(tmp_path: Path, tiny_gguf: Path) -> Path:
    root = tmp_path / "ws"
    Workspace.init(root)
    for key, value in {
        "embedder": '"hashing"',
        "generator": f'"{tiny_gguf}"',
        "max_new_tokens": "6",
        "probes_per_kind": "1",
        "noise_ks": "[1, 2]",
        "noise_probes": "2",
        "bootstrap_samples": "50",
        "injection_probes": "2",
    }.items():
        set_setting(root, key, value)
    docs = tmp_path / "docs"
    for version in (1, 2):
        write_sample(docs, version)
        assert runner.invoke(app, ["ingest", str(docs), "-w", str(root)]).exit_code == 0
    return root


def test_compare_runs_every_arm_on_v1_and_measures_freshness_to_v2(sample_ws: Path, tmp_path: Path) -> None:
    ws = Workspace.open(sample_ws)
    out = tmp_path / "run"
    result = run_comparison(ws, arms=["base", "rag"], out_dir=out, version=1, measure_domain=False, say=lambda _: None)
    kinds = {item.kind for item in result.probes}
    assert {"fact", "out_of_scope", "changed_fact", "restricted"} <= kinds
    for arm in ("base", "rag"):
        lines = (out / "answers" / f"{arm}.jsonl").read_text().splitlines()
        assert len(lines) == len(result.probes), "every probe answered or counted as failed, none dropped"
    assert set(result.freshness) == {"base", "rag"}
    assert result.freshness["rag"].refresh.method == "re-index"
    assert result.probe_stats["gold_check"], "the sample corpus checks the probe generator against its gold set"
    assert recommend_result(result).to_dict()
    rag_injection = result.injection["rag"]
    assert rag_injection["probes"] == 2 and (rag_injection["exposed"] >= 1 or any(r["screened_out"] for r in rag_injection["rows"]))
    assert set(rag_injection["by_variant"]) == {"generic", "qa"}, "the first probes span the attack variants"
    assert result.injection["base"]["rate"] is None, "closed-book arms are not exposed to documents"


def test_cli_compare_writes_the_report_and_summary(sample_ws: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["compare", "-w", str(sample_ws), "--arms", "base,rag", "--arms", "rag", "--version", "1", "--no-domain", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["arms"]) == {"base", "rag"}
    paths = list(_paths_in(summary, str(out)))
    assert len(paths) >= 2 and all(Path(p).is_file() for p in paths), [p for p in paths if not Path(p).is_file()]
    assert summary["noise_not_applicable"] == {"base": "not applicable: answers without retrieval, so there is no passage count to vary"}
    html = (out / "report.html").read_text()
    assert "<h2>Prompt injection</h2>" in html and "hostile passage in prompt" in html and "by variant" in html
    assert "rag" in summary["injection"]
    assert "<html" in html and "http" not in re.sub(r'xmlns="http[^"]*"', "", html).split("<body", 1)[1][:200]
    assert "Report:" in result.output


def _paths_in(value: object, root: str):
    """Every string in a JSON value that names a file under `root`."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _paths_in(v, root)
    elif isinstance(value, list):
        for v in value:
            yield from _paths_in(v, root)
    elif isinstance(value, str) and value.startswith(root) and value.endswith(".jsonl"):
        yield value


def test_compare_refuses_unknown_arms(sample_ws: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", "-w", str(sample_ws), "--arms", "oracle", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "unknown arm" in result.output


def test_the_demo_workspace_gets_demo_sized_settings(tmp_path: Path) -> None:
    ws = prepare_demo_workspace(tmp_path / "demo")
    assert ws.config.evaluation.probes_per_kind == 2 and ws.config.training.max_chunks == 10
    again = prepare_demo_workspace(tmp_path / "demo")
    assert again.store.latest_version() is None, "a second demo starts from a clean workspace"
