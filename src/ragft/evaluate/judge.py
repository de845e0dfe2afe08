"""An optional LLM judge: a second opinion on every answer, and how often it agrees with the string metrics.

The string metrics (containment / exact match, refusal where refusing is right) are cheap and
reproducible but miss paraphrased right answers and can be fooled by an answer that names the gold
value while saying something else. A judge model reads the question, the gold answers and the answer
and replies with exactly one word, CORRECT or INCORRECT; its accuracy and its agreement with
`Score.correct` (rate, Cohen's kappa, the 2x2 table) are reported side by side, never mixed in.

Parsing is strict: after trimming whitespace and one trailing period, the reply must be the word
CORRECT or INCORRECT (any letter case) and nothing else. Anything else is a parse failure; the judge
is asked again (with a reminder of the format and a different seed, since greedy decoding would
repeat itself) up to `retries` times, and an answer still without a verdict is counted as
*unparsed*: left out of the judge's accuracy, never guessed. An answer that raised or timed out is
wrong by the runner's rule and is not sent to the judge (status "error").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ragft.config import ConfigError, ModelsConfig
from ragft.evaluate.runner import AnswerRecord, answers_path
from ragft.evaluate.scoring import Score, gold_for
from ragft.evaluate.stats import EMPTY, Interval, bootstrap
from ragft.models.base import DecodingSettings, Generator
from ragft.types import ChatMessage, QAItem

VERDICTS = {"CORRECT": True, "INCORRECT": False}

SYSTEM_PROMPT = (
    "You grade answers to questions about a set of documents. Reply with exactly one word: CORRECT or INCORRECT. Do not explain."
)
ANSWERABLE_RULE = (
    "The answer is CORRECT if it gives one of the accepted answers (other wording, units or extra detail are fine) "
    "and does not contradict it. It is INCORRECT if it gives a different value, gives no answer, or declines to answer."
)
REFUSAL_RULE = (
    "The documents do not answer this question (or the person asking may not see the answer), so the right response "
    "is to decline: to say that it does not know or cannot answer. The answer is CORRECT if it declines without "
    "stating an answer. It is INCORRECT if it states any answer to the question."
)
FORMAT_LINE = "Reply with exactly one word: CORRECT or INCORRECT."
REMINDER = "Your previous reply was not in the required format. " + FORMAT_LINE


def judge_prompt(question: str, gold: Sequence[str], answer: str) -> list[ChatMessage]:
    """The chat the judge sees; `gold` empty means the right answer is a refusal."""
    if gold:
        accepted = "; ".join(json.dumps(g, ensure_ascii=False) for g in gold)
        body = f"Question: {question}\nAccepted answers (any one is enough): {accepted}\nAnswer to grade: {answer}\n\n{ANSWERABLE_RULE}"
    else:
        body = f"Question: {question}\nAnswer to grade: {answer}\n\n{REFUSAL_RULE}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": f"{body}\n{FORMAT_LINE}"}]


def parse_verdict(reply: str) -> bool | None:
    """True for CORRECT, False for INCORRECT, None for anything else (chatter, empty, both words)."""
    text = reply.strip()
    if text.endswith("."):
        text = text[:-1].rstrip()
    return VERDICTS.get(text.upper())


@dataclass(frozen=True)
class Grade:
    """One judged answer: the verdict (None when no reply parsed) and every raw reply, one per attempt."""

    verdict: bool | None
    replies: tuple[str, ...]

    @property
    def attempts(self) -> int:
        return len(self.replies)

    @property
    def raw(self) -> str:
        """The last raw reply (the one that parsed, when one did)."""
        return self.replies[-1] if self.replies else ""


class Judge:
    """Grades answers with any `Generator` at temperature 0, parsing strictly and retrying on format errors."""

    def __init__(self, generator: Generator, *, retries: int = 2, max_new_tokens: int = 8, seed: int = 0) -> None:
        self.generator = generator
        self.retries = max(0, retries)
        self.max_new_tokens = max_new_tokens
        self.seed = seed

    @property
    def name(self) -> str:
        return str(getattr(self.generator, "name", type(self.generator).__name__))

    def grade(self, question: str, gold: Sequence[str], answer: str) -> Grade:
        """Ask up to 1 + `retries` times; never raises (a failing call is a failed attempt, its error the reply)."""
        first = judge_prompt(question, gold, answer)
        reminded: list[ChatMessage] = [*first[:-1], {"role": "user", "content": f"{first[-1]['content']}\n\n{REMINDER}"}]
        replies: list[str] = []
        for attempt in range(1 + self.retries):
            # Greedy decoding repeats itself: a retry adds a reminder of the format and changes the seed.
            messages = reminded if attempt else first
            settings = DecodingSettings(max_new_tokens=self.max_new_tokens, temperature=0.0, seed=self.seed + attempt)
            try:
                reply = self.generator.generate(messages, settings).text
            except Exception as exc:  # a judge that fails on one answer must not end the comparison
                reply = f"<error: {type(exc).__name__}: {exc}>"
            replies.append(reply)
            verdict = parse_verdict(reply)
            if verdict is not None:
                return Grade(verdict, tuple(replies))
        return Grade(None, tuple(replies))


@dataclass(frozen=True)
class JudgedAnswer:
    """The judge's record for one answer, beside the string metric's verdict."""

    arm: str
    qid: str
    kind: str
    status: str  # judged | unparsed | error (the answer raised or timed out: wrong, not sent to the judge)
    verdict: bool | None
    string_correct: bool
    replies: tuple[str, ...] = ()

    @property
    def attempts(self) -> int:
        return len(self.replies)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "attempts": self.attempts}, ensure_ascii=False)


@dataclass(frozen=True)
class Agreement:
    """How the judge's verdicts line up with the string metric's, over answers both graded."""

    both_correct: int = 0
    judge_only: int = 0  # judge CORRECT, string metric wrong
    string_only: int = 0  # string metric right, judge INCORRECT
    both_wrong: int = 0
    rate: Interval = EMPTY
    kappa: float | None = None  # None when undefined (no items, or both raters constant)

    @property
    def n(self) -> int:
        return self.both_correct + self.judge_only + self.string_only + self.both_wrong

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "rate": self.rate.to_dict(),
            "kappa": self.kappa,
            "both_correct": self.both_correct,
            "judge_only": self.judge_only,
            "string_only": self.string_only,
            "both_wrong": self.both_wrong,
        }


def cohens_kappa(both_correct: int, judge_only: int, string_only: int, both_wrong: int) -> float | None:
    """Cohen's kappa for a 2x2 table: (observed - chance agreement) / (1 - chance); None when undefined."""
    n = both_correct + judge_only + string_only + both_wrong
    if n == 0:
        return None
    observed = (both_correct + both_wrong) / n
    judge_yes, string_yes = (both_correct + judge_only) / n, (both_correct + string_only) / n
    chance = judge_yes * string_yes + (1 - judge_yes) * (1 - string_yes)
    return None if chance >= 1.0 else (observed - chance) / (1 - chance)


def agreement(pairs: Sequence[tuple[bool, bool]], *, samples: int = 1000, seed: int = 0) -> Agreement:
    """Agreement of (judge, string) verdict pairs: the 2x2 counts, the rate with its interval, and kappa."""
    cells = ((True, True), (True, False), (False, True), (False, False))
    both_correct, judge_only, string_only, both_wrong = counts = [sum(1 for j, s in pairs if (j, s) == cell) for cell in cells]
    rate = bootstrap([float(j == s) for j, s in pairs], samples=samples, seed=seed)
    return Agreement(both_correct, judge_only, string_only, both_wrong, rate=rate, kappa=cohens_kappa(*counts))


@dataclass(frozen=True)
class ArmJudgement:
    """One arm as the judge saw it: accuracy (unparsed left out, errors wrong), agreement, and every record."""

    arm: str
    accuracy: Interval
    agreement: Agreement
    unparsed: int
    errors: int
    answers: list[JudgedAnswer] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy.to_dict(),
            "agreement": self.agreement.to_dict(),
            "unparsed": self.unparsed,
            "errors": self.errors,
            "judged": len(self.answers) - self.unparsed - self.errors,
            "attempts": sum(a.attempts for a in self.answers),
        }


@dataclass(frozen=True)
class JudgeReport:
    """The judge's results for every arm, and which model judged with how many retries."""

    model: str
    retries: int
    arms: dict[str, ArmJudgement]
    files: dict[str, str] = field(default_factory=dict)  # arm -> per-answer JSONL

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "retries": self.retries,
            "parsing": f"exactly one word: {' or '.join(VERDICTS)}",
            "agreement_with": "accuracy (containment or exact match; refusal where refusing is right)",
            "arms": {arm: j.to_dict() for arm, j in self.arms.items()},
            "answers": dict(self.files),
        }


def judge_answer(judge: Judge, record: AnswerRecord, score: Score, item: QAItem) -> JudgedAnswer:
    """Judge one answer against the gold the string metric used (the arm's corpus version; refusal when unanswerable)."""
    base = JudgedAnswer(record.arm, record.qid, record.kind, "error", False, score.correct > 0)
    if record.error is not None:
        return base
    gold = gold_for(item, record.knows_version)
    grade = judge.grade(item.question, gold.answers if gold.answerable else (), record.text)
    status = "judged" if grade.verdict is not None else "unparsed"
    return replace(base, status=status, verdict=grade.verdict, replies=grade.replies)


def judge_arm(
    judge: Judge,
    arm: str,
    records: Sequence[AnswerRecord],
    scores: Sequence[Score],
    probes: Sequence[QAItem],
    *,
    samples: int = 1000,
    seed: int = 0,
) -> ArmJudgement:
    """Judge every scored answer of one arm and aggregate: accuracy with interval, agreement, unparsed count.

    `scores` is `score_all(records, probes)`: one score per record whose probe is in `probes`, in record order.
    """
    by_qid = {item.qid: item for item in probes}
    scored = [r for r in records if r.qid in by_qid]
    answers = [judge_answer(judge, r, s, by_qid[r.qid]) for r, s in zip(scored, scores, strict=True)]
    graded = [a for a in answers if a.status != "unparsed"]
    accuracy = bootstrap([float(bool(a.verdict)) for a in graded], samples=samples, seed=seed)
    pairs = [(bool(a.verdict), a.string_correct) for a in answers if a.status == "judged"]
    return ArmJudgement(
        arm,
        accuracy,
        agreement(pairs, samples=samples, seed=seed),
        sum(a.status == "unparsed" for a in answers),
        sum(a.status == "error" for a in answers),
        answers,
    )


def judge_arms(
    judge: Judge,
    records: Mapping[str, Sequence[AnswerRecord]],
    scores: Mapping[str, Sequence[Score]],
    probes: Sequence[QAItem],
    *,
    out_dir: Path | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> JudgeReport:
    """Judge every arm's scored answers; with `out_dir`, write each arm's per-answer records to `<out_dir>/<arm>.jsonl`."""
    arms = {arm: judge_arm(judge, arm, records[arm], scores[arm], probes, samples=samples, seed=seed) for arm in scores}
    files: dict[str, str] = {}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for arm, judged in arms.items():
            path = answers_path(out_dir, arm)
            path.write_text("".join(a.to_json() + "\n" for a in judged.answers), encoding="utf-8")
            files[arm] = str(path)
    return JudgeReport(judge.name, judge.retries, arms, files)


def build_judge_generator(spec: str, models: ModelsConfig | None = None) -> Generator:
    """The judge's generator: `spec` read exactly as `[models] generator` is, with the other [models] settings."""
    from ragft.models.factory import (
        build_generator,  # the model backends are imported only when a judge is asked for
    )

    try:
        return build_generator(replace(models or ModelsConfig(), generator=spec))
    except ConfigError as exc:
        raise ConfigError(f"[evaluation] judge = {spec!r} is read as [models] generator is: {exc}") from exc
