"""The optional LLM judge: strict one-word verdicts, retries then "unparsed", agreement with the string metric, wiring."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from ragft.config import ConfigError, EvaluationConfig, ModelsConfig
from ragft.evaluate.compare import compare
from ragft.evaluate.judge import (
    REFUSAL_RULE,
    REMINDER,
    Judge,
    agreement,
    build_judge_generator,
    cohens_kappa,
    judge_arm,
    judge_prompt,
    parse_verdict,
)
from ragft.evaluate.runner import AnswerRecord
from ragft.evaluate.scoring import score_all
from ragft.models.base import DecodingSettings, Generation
from ragft.models.testing import ScriptedGenerator
from ragft.prompts import REFUSAL
from ragft.report import write_report
from ragft.types import ChatMessage
from tests.evaluate_fakes import FakeArm, item


def replies(*texts: str) -> ScriptedGenerator:
    """A judge model that replies with `texts` in order (the last one repeats)."""
    queue = list(texts)
    return ScriptedGenerator(lambda messages: queue.pop(0) if len(queue) > 1 else queue[0], name="scripted-judge")


def oracle(messages: Sequence[ChatMessage]) -> str:
    """A judge model that is right by construction: CORRECT when the answer holds an accepted answer, or declines."""
    user = messages[-1]["content"]
    answer = user.split("Answer to grade: ", 1)[1].split("\n", 1)[0]
    if "Accepted answers" in user:
        accepted = [json.loads(g) for g in user.split("(any one is enough): ", 1)[1].split("\n", 1)[0].split("; ")]
        return "CORRECT" if any(g.lower() in answer.lower() for g in accepted) else "INCORRECT"
    return "CORRECT" if answer == REFUSAL else "INCORRECT"


@pytest.mark.parametrize(("reply", "verdict"), [("CORRECT", True), ("INCORRECT", False), ("  correct.\n", True), ("Incorrect", False)])
def test_one_word_verdicts_parse(reply: str, verdict: bool) -> None:
    assert parse_verdict(reply) is verdict


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   ",
        "The answer is CORRECT",
        "CORRECT or INCORRECT",
        "INCORRECT CORRECT",
        "**CORRECT**",
        "CORRECT, because it says 14 days",
        "yes",
        "CORRECT..",
        '{"verdict": "CORRECT"}',
    ],
)
def test_anything_but_exactly_one_verdict_word_is_a_parse_failure(reply: str) -> None:
    assert parse_verdict(reply) is None


def test_a_malformed_reply_is_asked_again_with_a_reminder_until_it_parses() -> None:
    model = replies("Sure! Let me think about it.", "", "INCORRECT")
    grade = Judge(model, retries=2).grade("What is the refund window?", ["14 days"], "30 days")
    assert grade.verdict is False and grade.attempts == 3 and grade.raw == "INCORRECT"
    assert grade.replies[:2] == ("Sure! Let me think about it.", "")
    assert REMINDER not in model.calls[0][-1]["content"]
    assert all(REMINDER in call[-1]["content"] for call in model.calls[1:])  # greedy would repeat the same prompt's reply


def test_a_judge_that_never_follows_the_format_leaves_the_answer_unparsed_not_guessed() -> None:
    model = replies("I believe this is mostly correct")
    grade = Judge(model, retries=2).grade("Q?", ["14 days"], "14 days")
    assert grade.verdict is None and grade.attempts == 3 and len(model.calls) == 3
    assert Judge(replies("maybe"), retries=0).grade("Q?", ["x"], "x").attempts == 1


def test_retries_change_the_seed_and_decode_greedily() -> None:
    seen: list[DecodingSettings] = []

    class Recording(ScriptedGenerator):
        def generate(self, messages, settings, on_token=None) -> Generation:
            seen.append(settings)
            return super().generate(messages, settings, on_token)

    Judge(Recording(lambda m: "hmm"), retries=2, seed=5).grade("Q?", ["x"], "x")
    assert [s.seed for s in seen] == [5, 6, 7] and {s.temperature for s in seen} == {0.0}


def test_a_judge_call_that_raises_is_a_failed_attempt_not_a_crash() -> None:
    calls = iter([RuntimeError("server down"), "CORRECT"])

    def flaky(messages):
        nxt = next(calls)
        if isinstance(nxt, Exception):
            raise nxt
        return nxt

    grade = Judge(ScriptedGenerator(flaky), retries=1).grade("Q?", ["x"], "x")
    assert grade.verdict is True and grade.replies[0].startswith("<error: RuntimeError: server down")


def test_kappa_and_agreement_on_a_hand_computed_table() -> None:
    # judge vs string: 4 both right, 1 judge only, 2 string only, 3 both wrong (n = 10)
    # observed agreement 7/10; chance = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    assert cohens_kappa(4, 1, 2, 3) == pytest.approx(0.4)
    pairs = [(True, True)] * 4 + [(True, False)] + [(False, True)] * 2 + [(False, False)] * 3
    a = agreement(pairs, samples=200)
    assert (a.both_correct, a.judge_only, a.string_only, a.both_wrong, a.n) == (4, 1, 2, 3, 10)
    assert a.rate.value == pytest.approx(0.7) and a.rate.low <= 0.7 <= a.rate.high and a.kappa == pytest.approx(0.4)
    assert cohens_kappa(5, 0, 0, 5) == pytest.approx(1.0) and cohens_kappa(0, 5, 5, 0) == pytest.approx(-1.0)
    assert cohens_kappa(3, 0, 0, 0) is None and cohens_kappa(0, 0, 0, 0) is None  # undefined, not a made-up number


def test_items_whose_right_answer_is_a_refusal_ask_whether_the_answer_declines() -> None:
    refusal = judge_prompt("Who is the CEO's dog?", [], "Rex")[-1]["content"]
    assert REFUSAL_RULE in refusal and "Accepted answers" not in refusal and "Answer to grade: Rex" in refusal
    normal = judge_prompt("Refund window?", ["14 days", "two weeks"], "14 days")[-1]["content"]
    assert '"14 days"; "two weeks"' in normal and REFUSAL_RULE not in normal
    probes = [
        item("o1", "Who is the CEO's dog?", kind="out_of_scope"),
        item("r1", "Band E3 minimum?", ("€64,000",), kind="restricted", acl=["hr"]),
        item("c1", "F3 price?", ("€189",), kind="changed_fact", answers_v2=["€199"], changed_in=2),
    ]
    records = [
        AnswerRecord("a", "o1", "out_of_scope", "Who is the CEO's dog?", text="Rex"),
        AnswerRecord("a", "r1", "restricted", "Band E3 minimum?", text=REFUSAL, refused=True, user="outsider"),
        AnswerRecord("a", "c1", "changed_fact", "F3 price?", text="It is €199.", knows_version=2),
    ]
    model = ScriptedGenerator(oracle)
    judged = judge_arm(Judge(model), "a", records, score_all(records, probes), probes, samples=50)
    prompts = [call[-1]["content"] for call in model.calls]
    assert REFUSAL_RULE in prompts[0] and REFUSAL_RULE in prompts[1] and "64,000" not in prompts[1]  # a restricted fact is never gold
    assert '"€199"' in prompts[2] and "€189" not in prompts[2]  # the version the arm should know
    assert [a.verdict for a in judged.answers] == [False, True, True]
    assert judged.agreement.n == 3 and judged.agreement.rate.value == 1.0 and judged.accuracy.value == pytest.approx(2 / 3)


def test_errors_are_wrong_unjudged_and_unparsed_answers_leave_the_accuracy() -> None:
    probes = [item("f1", "Q1?", ("a",)), item("f2", "Q2?", ("b",)), item("f3", "Q3?", ("c",))]
    records = [
        AnswerRecord("x", "f1", "fact", "Q1?", text="a"),
        AnswerRecord("x", "f2", "fact", "Q2?", text="b"),
        AnswerRecord("x", "f3", "fact", "Q3?", error="RuntimeError: boom"),
    ]
    model = ScriptedGenerator(lambda m: "CORRECT" if "Q1?" in m[-1]["content"] else "no idea")
    judged = judge_arm(Judge(model, retries=1), "x", records, score_all(records, probes), probes, samples=50)
    assert [a.status for a in judged.answers] == ["judged", "unparsed", "error"] and len(model.calls) == 1 + 2
    assert judged.unparsed == 1 and judged.errors == 1 and judged.answers[1].attempts == 2
    assert judged.accuracy.n == 2 and judged.accuracy.value == 0.5  # f1 right, f3 wrong; f2 left out
    assert judged.agreement.n == 1


PROBES = [
    item("f0", "fact question 0?", ("14 days",)),
    item("f1", "fact question 1?", ("9:00",)),
    item("f2", "fact question 2?", ("€189",)),
    item("o1", "Who is the CEO's dog?", kind="out_of_scope"),
]


def test_compare_with_an_injected_judge_reports_it_in_summary_json_and_the_html(tmp_path: Path) -> None:
    systems = {
        "base": FakeArm("base", {"fact question 0?": "two weeks", "Who is the CEO's dog?": "Rex"}),  # a paraphrase the string misses
        "rag": FakeArm("rag", {"fact question 0?": "14 days", "fact question 1?": "9:00", "fact question 2?": "€189"}),
    }

    def judge_reply(messages):
        return "CORRECT" if "Answer to grade: two weeks" in messages[-1]["content"] else oracle(messages)

    model = ScriptedGenerator(judge_reply, name="scripted-judge")
    evaluation = EvaluationConfig(bootstrap_samples=50, noise_probes=0, judge_retries=1)
    result = compare(systems, PROBES, tmp_path / "run", evaluation=evaluation, show_progress=False, judge=model)
    assert len(model.calls) == 2 * len(PROBES) and result.judge is not None and "LLM judge" in result.stages_s
    write_report(result, tmp_path / "report")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    judge = summary["judge"]
    assert judge["model"] == "scripted-judge" and judge["retries"] == 1
    base, rag = judge["arms"]["base"], judge["arms"]["rag"]
    assert base["accuracy"]["value"] == 0.25 and summary["arms"]["base"]["overall"]["accuracy"]["value"] == 0.0
    assert base["agreement"] | {"rate": None} == {
        "n": 4,
        "rate": None,
        "kappa": 0.0,
        "both_correct": 0,
        "judge_only": 1,
        "string_only": 0,
        "both_wrong": 3,
    }
    assert base["agreement"]["rate"]["value"] == 0.75 and base["unparsed"] == 0
    assert rag["accuracy"]["value"] == 1.0 and rag["agreement"]["rate"]["value"] == 1.0 and rag["agreement"]["both_correct"] == 4
    lines = Path(judge["answers"]["base"]).read_text().splitlines()
    assert [json.loads(line)["verdict"] for line in lines] == [True, False, False, False]
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<h2>LLM judge</h2>" in html and "scripted-judge" in html and "25.0%" in html
    assert "<script" not in html


def test_without_a_judge_nothing_is_judged_or_reported(tmp_path: Path) -> None:
    systems = {"rag": FakeArm("rag", {"fact question 0?": "14 days"})}
    evaluation = EvaluationConfig(bootstrap_samples=20, noise_probes=0)
    result = compare(systems, PROBES, tmp_path / "run", evaluation=evaluation, show_progress=False)
    write_report(result, tmp_path / "report")
    assert result.judge is None and json.loads((tmp_path / "report" / "summary.json").read_text())["judge"] is None
    assert "LLM judge" not in (tmp_path / "report" / "report.html").read_text()


def test_the_judge_setting_is_read_as_models_generator_is_and_fails_before_any_arm_answers(tmp_path: Path) -> None:
    served = build_judge_generator("judge-model", ModelsConfig(generator_backend="openai", openai_base_url="http://127.0.0.1:9/v1"))
    assert served.name == "openai:judge-model"  # built, not contacted
    arm = FakeArm("rag", {})
    with pytest.raises(ConfigError, match=r"\[evaluation\] judge = 'no-such-model'.*generator = 'no-such-model'"):
        compare({"rag": arm}, PROBES, tmp_path / "run", evaluation=EvaluationConfig(judge="no-such-model"), show_progress=False)
    assert arm.calls == []
