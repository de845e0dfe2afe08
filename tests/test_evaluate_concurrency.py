"""`[evaluation] concurrency`: probes answered side by side for a server that batches, one at a time otherwise."""

from __future__ import annotations

import threading
from pathlib import Path

from ragft.config import EvaluationConfig
from ragft.evaluate.compare import compare
from ragft.evaluate.runner import concurrency_for, read_records, run_arm
from ragft.models.testing import ScriptedGenerator
from ragft.types import Answer, User
from tests.evaluate_fakes import item

PROBES = [item(f"q{i}", f"question {i}?", (f"answer {i}",)) for i in range(8)]


class ServedGenerator(ScriptedGenerator):
    """A generator that, like the OpenAI-compatible backend, says it takes concurrent requests."""

    concurrent_requests = True


class BatchedArm:
    """Answers only once `width` requests are in flight together (a barrier), later probes first.

    Run one at a time it would wait at the barrier until its timeout and fail every answer, so an
    answer that comes back proves `width` requests were in flight at once.
    """

    def __init__(self, width: int, generator: object) -> None:
        self.name = "served"
        self.generator = generator
        self.barrier = threading.Barrier(width, timeout=30)
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        self.finished: list[str] = []

    def answer(self, question: str, *, user: User | None = None, on_token=None) -> Answer:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        index = int(question.split()[1].rstrip("?"))
        self.barrier.wait()
        self._wait_for_later_probes_in_batch(index)
        with self.lock:
            self.in_flight -= 1
            self.finished.append(question)
        return Answer(f"answer {index}", (), False, {}, {"total_s": 0.01 * (index + 1)})

    def _wait_for_later_probes_in_batch(self, index: int) -> None:
        """Finish after every later probe of the same batch has, so answers complete out of probe order."""
        width = self.barrier.parties
        batch_end = (index // width + 1) * width
        later = [f"question {i}?" for i in range(index + 1, min(batch_end, len(PROBES)))]
        while True:
            with self.lock:
                if all(q in self.finished for q in later):
                    return
            threading.Event().wait(0.001)


def test_a_served_arm_answers_probes_side_by_side_and_the_file_stays_in_probe_order(tmp_path: Path) -> None:
    arm = BatchedArm(4, ServedGenerator())
    path = tmp_path / "served.jsonl"
    records = run_arm(arm, PROBES, path, warmup_questions=0, concurrency=concurrency_for(arm, 4))
    assert arm.most_in_flight == 4
    assert arm.finished[:4] == ["question 3?", "question 2?", "question 1?", "question 0?"], "answers came back out of order"
    assert [r.qid for r in records] == [p.qid for p in PROBES]
    assert [r.qid for r in read_records(path)] == [p.qid for p in PROBES], "the answer file is in probe order"
    assert all(r.error is None and r.text == f"answer {i}" for i, r in enumerate(records))
    assert [r.timings["total_s"] for r in records] == [0.01 * (i + 1) for i in range(8)], "each record keeps its own request's latency"


def test_an_in_process_generator_is_asked_one_probe_at_a_time_whatever_the_setting() -> None:
    assert concurrency_for(BatchedArm(1, ScriptedGenerator()), 16) == 1
    assert concurrency_for(BatchedArm(1, ServedGenerator()), 16) == 16
    assert concurrency_for(BatchedArm(1, ServedGenerator()), 1) == 1


def test_the_llama_cpp_and_openai_backends_declare_whether_they_take_concurrent_requests() -> None:
    from ragft.models.llama_cpp import LlamaCppGenerator
    from ragft.models.openai_backend import OpenAIGenerator
    from ragft.models.transformers_backend import TransformersGenerator

    assert OpenAIGenerator.concurrent_requests is True
    assert not getattr(LlamaCppGenerator, "concurrent_requests", False)
    assert not getattr(TransformersGenerator, "concurrent_requests", False)


def test_the_comparison_records_the_concurrency_each_arm_used(tmp_path: Path) -> None:
    served = BatchedArm(2, ServedGenerator())
    local = BatchedArm(1, ScriptedGenerator())
    local.name = "local"
    evaluation = EvaluationConfig(concurrency=2, noise_probes=0, bootstrap_samples=10, warmup_questions=0)
    result = compare({"served": served, "local": local}, PROBES, tmp_path, evaluation=evaluation, show_progress=False)
    assert result.meta["concurrency"] == {"served": 2, "local": 1}
    assert result.summary_dict()["meta"]["concurrency"] == {"served": 2, "local": 1}
    assert served.most_in_flight == 2 and local.most_in_flight == 1
    assert all(r.error is None for recs in result.records.values() for r in recs)
