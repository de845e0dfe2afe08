"""compare -> write_report: one self-contained HTML with every section, summary.json, a screenshot when Chromium exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ragft.config import EvaluationConfig
from ragft.evaluate.compare import ArmCost, compare
from ragft.evaluate.domain import domain_distance
from ragft.evaluate.freshness import (
    RefreshResult,
    manifest_refresher,
    measure_freshness,
)
from ragft.evaluate.requirements import evidence_from_summary
from ragft.models.testing import ScriptedScorer
from ragft.report import write_report
from ragft.report.recommend import Requirements, recommend, recommend_result
from ragft.report.terminal import summary_table
from ragft.types import Document
from tests.evaluate_fakes import FakeArm, item

PROBES = [
    *[item(f"f{i}", f"fact question {i}?", (f"{i} days",), gold=(f"doc{i}.md",)) for i in range(8)],
    *[item(f"p{i}", f"paraphrased question {i}?", (f"{i} days",), kind="paraphrase", gold=(f"doc{i}.md",)) for i in range(4)],
    item("o1", "Who is the CEO's dog?", kind="out_of_scope"),
    item("o2", "What is the F9 price?", kind="out_of_scope"),
    item("r1", "What is band E3's minimum?", ("€64,000",), kind="restricted", gold=("hr/salaries.md",), acl=["hr"]),
    item("c1", "What is the F3 price?", ("€189",), kind="changed_fact", gold=("prices.md",), answers_v2=["€199"], changed_in=2),
]


def arms() -> dict[str, FakeArm]:
    rag_table = {p.question: f"It is {p.answers[0]} [1]." for p in PROBES if p.answerable and p.kind != "restricted"}
    rag_table.pop("fact question 7?")  # gold passage retrieved, answer missed: generation miss
    rag_table.pop("fact question 6?")  # wrong passage retrieved: retrieval miss
    rag_docs = {p.question: p.gold_doc_ids[0] for p in PROBES if p.gold_doc_ids}
    rag_docs["fact question 6?"] = "unrelated.md"
    ft_table = {p.question: f"{p.answers[0]}." for p in PROBES if p.answerable and p.kind in ("fact", "restricted", "changed_fact")}
    return {
        "base": FakeArm("base", {"fact question 0?": "0 days", "Who is the CEO's dog?": "Rex"}, latency_s=0.4),
        "rag": FakeArm("rag", rag_table, docs=rag_docs, latency_s=1.2, k=4, withheld={"fact question 7?": "It is 8 days [1]."}),
        "finetuned": FakeArm("finetuned", ft_table, latency_s=0.5),
    }


def _updated(system: FakeArm) -> FakeArm:
    """A new fake over the updated index, which now answers the changed fact with its new value (the old one is unchanged)."""
    fresh = system.with_retriever(system.docs)
    fresh.table = {**system.table, "What is the F3 price?": "It is €199 [1]."}
    return fresh


def build_result(tmp_path: Path):
    systems = arms()
    result = compare(
        systems,
        PROBES,
        tmp_path / "run",
        requirements=Requirements(restricted_data=True, update_frequency="weekly"),
        evaluation=EvaluationConfig(bootstrap_samples=200, noise_ks=(1, 3), noise_probes=6),
        knows_version=1,
        costs={"rag": ArmCost(indexing_s=3.5, disk_mb=12.0), "finetuned": ArmCost(training_s=420.0, disk_mb=35.0)},
        stages_s={"ingest v1": 1.0},
        show_progress=False,
    )

    def reindex(system):
        return _updated(system), RefreshResult("re-index", 2.5, True, "3 chunks embedded, 120 reused")

    fresh = measure_freshness(
        systems,
        PROBES,
        tmp_path / "run",
        new_version=2,
        refreshers={"rag": reindex, "finetuned": manifest_refresher(420.0)},
        samples=100,
        show_progress=False,
    )
    docs = [Document("a.md", "A", "Quarterly zorbling of frammistats " * 20, "a.md")]
    scorer = ScriptedScorer(lambda text: -4.0 if "zorbling" in text else -3.0, name="fake")
    domain = domain_distance(docs, scorer, known_facts=result.summaries["base"].by_kind["fact"]["accuracy"])
    from dataclasses import replace

    return replace(result, freshness=fresh, domain=domain, probe_stats={"counts": {"fact": 8}, "rejected": {"fact": {"duplicate": 2}}})


def test_the_report_has_every_section_and_links_reasons_to_numbers(tmp_path: Path) -> None:
    result = build_result(tmp_path)
    assert result.freshness["rag"].fresh_after.value == 1.0 and result.freshness["rag"].stale_before.value == 1.0
    assert result.freshness["finetuned"].stale_after.value == 1.0  # reported retrain time, not retrained
    assert {p.arm for p in result.noise.points} == {"rag"} and [p.k for p in result.noise.points] == [1, 3]
    assert set(result.noise.not_applicable) == {"base", "finetuned"}, "closed-book arms are reported, not dropped"
    html_path = write_report(result, tmp_path / "report")
    html = html_path.read_text()
    for heading in (
        "Recommendation:",
        "Accuracy by probe kind",
        "Every metric",
        "Why answers were wrong",
        "Sensitivity to retrieval noise",
        "Latency",
        "Freshness after a document update",
        "Access leakage",
        "Domain distance",
        "Cost",
        "Example answers",
    ):
        assert heading in html, heading
    assert "withheld (unconfident, model's refusal probability 0.31):</b> It is 8 days [1]." in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in html  # opens offline
    rec = recommend_result(result)
    assert rec.arm == "rag" and set(rec.ruled_out) == {
        "base",
        "finetuned",
    }  # finetuned leaks; base is under min_accuracy (listed, not a candidate)
    for reason in rec.reasons:
        assert f'id="{reason.anchor}"' in html, reason.anchor  # every reason links to a cell that exists
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    acc = summary["arms"]["rag"]["overall"]["accuracy"]
    assert acc["low"] <= acc["value"] <= acc["high"] and acc["n"] == len(PROBES)
    assert summary["arms"]["rag"]["by_kind"]["paraphrase"]["accuracy"]["value"] == 1.0
    assert summary["arms"]["rag"]["failures"] == {"retrieval_miss": 1, "generation_miss": 1}
    assert summary["recommendation"]["arm"] == "rag" and summary["freshness"]["rag"]["refresh"]["method"] == "re-index"
    assert summary_table(result).row_count == 3
    assert "Paired comparisons" in html and "a tie means too few probes, not equal" in html
    pairs = {(p["a"], p["b"]): p for p in summary["paired"]["pairs"]}
    assert set(pairs) == {("base", "rag"), ("base", "finetuned"), ("rag", "finetuned")}
    assert summary["paired"]["correct"]["rag"] == {s.qid: int(s.correct) for s in result.scores["rag"]}
    rebuilt = recommend(evidence_from_summary(summary), Requirements(**summary["requirements"]), machine=summary["meta"]["machine"])
    assert rebuilt.to_dict() == summary["recommendation"]  # the verdict follows from summary.json alone


def test_every_wrong_answer_is_written_with_its_class_and_who_got_it_right(tmp_path: Path) -> None:
    result = build_result(tmp_path)
    write_report(result, tmp_path / "report")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    for arm, scores in result.scores.items():
        path = Path(summary["errors"][arm])
        assert path == result.run_dir / "errors" / f"{arm}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["qid"] for r in rows] == [s.qid for s in scores if not s.correct]
        for row in rows:
            assert row["failure"] in ("retrieval_miss", "generation_miss", "should_have_refused", "wrong_refusal", "error")
            assert row["right_in"] == [
                a for a in result.scores if a != arm and any(s.qid == row["qid"] and s.correct for s in result.scores[a])
            ]
    rag_rows = [json.loads(line) for line in Path(summary["errors"]["rag"]).read_text().splitlines()]
    assert sorted(r["failure"] for r in rag_rows) == ["generation_miss", "retrieval_miss"]
    assert Path(summary["errors"]["rag"]).resolve().as_uri() in (tmp_path / "report" / "report.html").read_text()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    html_path = write_report(build_result(tmp_path), tmp_path / "report")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tempfile.mkdtemp()}",
            f"--screenshot={shot}",
            "--window-size=1280,2400",
            html_path.resolve().as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    shutil.copyfile(shot, Path(tempfile.gettempdir()) / "ragft-report-screenshot.png")  # for a human to look at
    assert shot.stat().st_size > 20_000
    assert re.search(r"<svg[^>]+>", html_path.read_text())


def test_the_noise_sweep_and_freshness_reuse_the_answers_the_main_run_already_made(tmp_path: Path) -> None:
    systems = arms()
    result = compare(
        systems,
        PROBES,
        tmp_path / "out",
        evaluation=EvaluationConfig(bootstrap_samples=50, noise_ks=(1, 4), noise_probes=6),
        knows_version=1,
        show_progress=False,
    )
    run = tmp_path / "out" / "answers"
    assert (run / "noise" / "k1" / "rag.jsonl").is_file() and not (run / "noise" / "k4").exists()  # k=4 is the arm's own k
    at_own_k = next(p for p in result.noise.points if p.k == 4)
    assert at_own_k.accuracy.n == 6

    def reindex(system):
        return _updated(system), RefreshResult("re-index", 2.5, True)

    fresh = measure_freshness(
        systems,
        PROBES,
        run,
        new_version=2,
        refreshers={"rag": reindex, "finetuned": manifest_refresher(9.0)},
        samples=50,
        show_progress=False,
        answered=result.records,
    )
    assert not (run / "freshness" / "before").exists()  # the main run's answers were made on the old version
    assert sorted(p.name for p in (run / "freshness" / "after").iterdir()) == ["rag.jsonl"]  # only the refreshed arm answers again
    assert fresh["rag"].stale_before.value == 1.0 and fresh["rag"].fresh_after.value == 1.0
    assert fresh["finetuned"].stale_after.value == fresh["finetuned"].stale_before.value == 1.0  # not retrained: still stale
