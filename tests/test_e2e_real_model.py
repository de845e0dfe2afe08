"""End to end on the real default models (Qwen2.5-Coder-0.5B GGUF + MiniLM): slow, still run by CI."""

from __future__ import annotations

import pytest

from ragft.arms import build
from ragft.corpus.ingest import ingest
from ragft.evaluate.metrics import contains_answer
from ragft.sample import sample_dir
from ragft.systems.build import index_corpus
from ragft.types import User
from ragft.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory):
    ws = Workspace.init(tmp_path_factory.mktemp("e2e") / "ws")
    ingest(ws.store, [sample_dir(1)], max_file_mb=50)
    return build(ws, "rag", indexed=index_corpus(ws))


def test_rag_answers_a_sample_fact_with_the_right_citation(rag) -> None:
    answer = rag.answer("How long is the probation period for new employees at Orrivale?")
    assert contains_answer(answer.text, ["6 months", "six months"]), answer.text
    assert "handbook/employee-handbook.md" in {c.doc_id for c in answer.citations}
    assert answer.timings["time_to_first_token_s"] <= answer.timings["total_s"]


def test_rag_refuses_an_out_of_scope_question(rag) -> None:
    answer = rag.answer("What is Orrivale's stock ticker symbol?")
    assert answer.refused, answer.text


def test_an_outsider_cannot_get_the_salary_bands(rag) -> None:
    question = "What is the minimum annual base salary of band E3 in Tampere?"
    outsider = rag.answer(question, user=User("visitor"))
    assert all(not hit["doc_id"].startswith("hr/salary") for hit in outsider.trace["hits"])
    assert not contains_answer(outsider.text, ["64,000", "64000"])
    insider = rag.answer(question, user=User("hanna", frozenset({"hr"})))
    assert any(hit["doc_id"] == "hr/salary-bands-2026.md" for hit in insider.trace["hits"])
