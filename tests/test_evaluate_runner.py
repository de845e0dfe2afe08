"""The runner: every probe answered once, failures recorded as wrong, resumable after an interrupt or a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragft.evaluate.runner import OUTSIDER, read_records, run_arm, run_arms
from ragft.evaluate.scoring import score_all
from tests.evaluate_fakes import FakeArm, item

PROBES = [item(f"q{i}", f"question {i}?", (f"answer {i}",)) for i in range(6)]
TABLE = {p.question: p.answers[0] for p in PROBES}


class Interrupting(FakeArm):
    """Raises KeyboardInterrupt (like Ctrl-C) on the n-th timed answer."""

    def __init__(self, after: int) -> None:
        super().__init__("rag", TABLE)
        self.after = after

    def answer(self, question, *, user=None):
        if len(self.calls) > self.after:
            raise KeyboardInterrupt
        return super().answer(question, user=user)


def test_an_interrupted_run_resumes_without_asking_again(tmp_path: Path) -> None:
    path = tmp_path / "rag.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_arm(Interrupting(after=3), PROBES, path, warmup_questions=1)
    assert [r.qid for r in read_records(path)] == ["q0", "q1", "q2"]  # 1 warm-up + 3 answered, then Ctrl-C
    arm = FakeArm("rag", TABLE)
    records = run_arm(arm, PROBES, path, warmup_questions=1)
    assert [r.qid for r in records] == [p.qid for p in PROBES]
    assert [q for q, _ in arm.calls] == ["question 3?", "question 3?", "question 4?", "question 5?"]  # warm-up + the rest
    assert len(path.read_text().splitlines()) == 6


def test_a_torn_last_line_from_a_kill_is_cut_and_the_item_asked_again(tmp_path: Path) -> None:
    path = tmp_path / "rag.jsonl"
    run_arm(FakeArm("rag", TABLE), PROBES[:2], path, warmup_questions=0)
    with path.open("a") as f:
        f.write('{"arm": "rag", "qid": "q2", "te')  # killed mid-write
    records = run_arm(FakeArm("rag", TABLE), PROBES, path, warmup_questions=0)
    assert [r.qid for r in records] == [p.qid for p in PROBES]
    assert all(json.loads(line) for line in path.read_text().splitlines())


SLOW_RUN = """
import sys, time
from pathlib import Path
from ragft.evaluate.runner import run_arm
from tests.evaluate_fakes import FakeArm, item
class Slow(FakeArm):
    def answer(self, question, *, user=None):
        time.sleep(0.3)
        return super().answer(question, user=user)
probes = [item(f"q{i}", f"question {i}?", (f"answer {i}",)) for i in range(6)]
run_arm(Slow("rag", {p.question: p.answers[0] for p in probes}), probes, Path(sys.argv[1]), warmup_questions=0)
"""


def test_a_killed_run_resumes_from_its_answer_file(tmp_path: Path) -> None:
    path = tmp_path / "rag.jsonl"
    root = Path(__file__).parent.parent  # the tests package and this checkout's ragft, not an installed one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    child = subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(path)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not path.exists() or len(path.read_text().splitlines()) < 2):
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done_before = len(read_records(path))
    assert 2 <= done_before < 6
    arm = FakeArm("rag", TABLE)
    records = run_arm(arm, PROBES, path, warmup_questions=0)
    assert [r.qid for r in records] == [p.qid for p in PROBES]
    assert len(arm.calls) == 6 - done_before
    assert len(read_records(path)) == 6


def test_failures_and_timeouts_are_kept_and_count_as_wrong(tmp_path: Path) -> None:
    arm = FakeArm("rag", TABLE, fail_on=frozenset({"question 1?"}))
    slow = FakeArm("base", TABLE, latency_s=500.0)
    results = run_arms({"rag": arm, "base": slow}, PROBES, tmp_path, timeout_s=120, warmup_questions=0, show_progress=False)
    assert len(results["rag"]) == len(PROBES) == len(results["base"])
    crashed = results["rag"][1]
    assert crashed.error == "RuntimeError: model crashed"
    scores = score_all(results["rag"], PROBES)
    assert [s.correct for s in scores] == [1, 0, 1, 1, 1, 1]
    assert all(r.error and r.error.startswith("timed out") for r in results["base"])
    assert sum(s.correct for s in score_all(results["base"], PROBES)) == 0
    assert (tmp_path / "probes.jsonl").is_file()


def test_restricted_probes_are_asked_by_an_outsider(tmp_path: Path) -> None:
    arm = FakeArm("rag", {})
    probes = [item("r1", "secret?", ("x",), kind="restricted", acl=["hr"]), item("f1", "public?", ("y",))]
    records = run_arm(arm, probes, tmp_path / "rag.jsonl", warmup_questions=0)
    assert arm.calls == [("secret?", OUTSIDER), ("public?", None)]
    assert OUTSIDER.groups == frozenset() and records[0].user == "outsider"


def test_fake_arm_refuses_what_it_does_not_know() -> None:
    assert FakeArm("x", {}).answer("anything").refused
