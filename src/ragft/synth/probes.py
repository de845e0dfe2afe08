"""Probe sets from the user's own documents: the messy questions real users ask, each with gold answers.

Deterministic templates, no model: a `fact` probe blanks a concrete value (money, percentage,
duration, time, date, count) out of a document sentence or table row and asks for it; the other
kinds are built from validated facts — `paraphrase` (synonyms, different frame), `typo`
(misspelt, lower-case, casual), `unanticipated` (everyday words for the corpus's jargon: a term the
documents define asked for by its definition, a fact asked with the term swapped for it — see
`synth.jargon` — then words the corpus never uses), `multi_doc` (bridges: an entity one document
names, asked about by what another says of it — see `synth.bridges` — then two facts from two
documents in one question), `out_of_scope` (the same question about a thing that exists nowhere in
the corpus), `restricted` (facts of access-restricted documents) and `changed_fact` (a value that
differs between two corpus versions, from `corpus.diff`).

Every item is validated before it is kept and every rejection is counted by reason, so the report
can say how many were thrown away and why. The templates differ on purpose from the training-set
generator's, so fine-tuned arms are not asked their own training questions.
Users may bring their own questions instead (`synth.question_file` reads and writes them).
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragft.config import CorpusConfig
from ragft.corpus.chunking import chunk_corpus
from ragft.corpus.diff import CorpusDiff, DocumentChange
from ragft.synth.bridges import find_bridges
from ragft.synth.doc_text import MARKUP, PRONOUN_START, lines, supported
from ragft.synth.jargon import (
    Definition,
    by_spread,
    definition_question,
    find_definitions,
    lowercase_words,
    rejection,
    says,
    swap_terms,
)
from ragft.synth.wording import SYNONYMS, USER_WORDS, frame_body, out_of_scope, substitute, typo
from ragft.text import TokenCounter, normalize_answer
from ragft.types import Document, QAItem


@dataclass(frozen=True)
class ProbeSet:
    """Validated probes, and how many candidates of each kind were rejected and why."""

    items: tuple[QAItem, ...]
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return dict(Counter(item.kind for item in self.items))

    def to_dict(self) -> dict[str, object]:
        return {"counts": self.counts(), "rejected": self.rejected}


# ---------------------------------------------------------------- facts

_VALUE = re.compile(
    r"(?P<money>(?:€|EUR\s?|\$)\d[\d,.]*\d?(?:\s?(?:per|a)\s\w+)?)"
    r"|(?P<percent>\d+(?:\.\d+)?\s?%)"
    r"|(?P<time>\b\d{1,2}:\d{2}\b)"
    r"|(?P<date>\b\d{1,2}\s(?:January|February|March|April|May|June|July|August|September|October|November|December)(?:\s\d{4})?)"
    r"|(?P<duration>(?<![\w,.-])\d+\s(?:calendar\s|business\s|working\s)?(?:minutes?|hours?|days?|weeks?|months?|years?)\b)"
    # a number and a plural noun: "14 sensors", "1,200 sites" (not "60 is", "1869, was")
    r"|(?P<count>(?<![\w,.-])\d(?:[\d,]*\d)?\s(?!(?:is|was|has|does|goes|makes|takes|means|uses|needs)\b)[a-z]{2,}s\b)"
)
_WH = {
    "money": "how much",
    "percent": "what percentage",
    "time": "what time",
    "date": "what date",
    "duration": "how long",
    "count": "how many",
}


@dataclass(frozen=True)
class _Fact:
    doc: Document
    question: str
    answer: str
    kind: str  # value kind (money, percent, ...)
    statement: str


_Probe = tuple[str, tuple[str, ...], tuple[str, ...], dict]  # question, answers, gold doc ids, meta


def extract_facts(doc: Document) -> list[_Fact]:
    """Every sentence or table row of `doc` with one clear value, as a blank-the-value question."""
    facts = []
    for header, line in lines(doc.text):
        matches = list(_VALUE.finditer(line))
        if len(matches) != 1 and header is None:
            continue  # zero values: nothing to ask; several: the blank would be ambiguous
        if not matches:
            continue
        match = matches[-1] if header else matches[0]
        kind, answer = match.lastgroup or "count", match.group().strip()
        if header is not None:
            cells, names = line.split(" | "), header.split(" | ")
            column = next((n for c, n in zip(cells, names) if answer in c), names[-1])
            if answer in cells[0] or len(cells) != len(names):
                continue
            question = f"In the {doc.title}, what is the {column.lower()} for {cells[0]}?"
        else:
            words = len(line.split())
            if not 6 <= words <= 40 or line.endswith("?") or ":" in line[: line.find(answer)][-3:] or PRONOUN_START.match(line):
                continue  # a pronoun subject ("It costs ...") leaves the question without its subject
            blanked = line[: match.start()] + _WH[kind] + line[match.end() :]
            question = f"According to the {doc.title}, {blanked[0].lower() + blanked[1:]}".rstrip(".!; ") + "?"
        facts.append(_Fact(doc, question, answer, kind, line))
    return facts


def _supported(fact: _Fact, chunks: dict[str, list[str]]) -> bool:
    """The answer and most of the question's words share one chunk of the gold document."""
    return supported(fact.answer, fact.statement, chunks[fact.doc.doc_id])


# ---------------------------------------------------------------- derived kinds


def _changed_pairs(change: DocumentChange) -> Iterable[tuple[str, str, str]]:
    """(new sentence, old value, new value) for sentences where exactly one short span changed."""
    import difflib

    for new in change.added_sentences:
        old = max(change.removed_sentences, default="", key=lambda s: difflib.SequenceMatcher(a=s, b=new).ratio())
        if not old or difflib.SequenceMatcher(a=old, b=new).ratio() < 0.6:
            continue
        a, b = old.split(), new.split()
        ops = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if op[0] != "equal"]
        if len(ops) != 1 or ops[0][2] - ops[0][1] > 4 or ops[0][4] - ops[0][3] > 4:
            continue
        _, i1, i2, j1, j2 = ops[0]
        before, after = " ".join(a[i1:i2]).strip("|*.,;"), " ".join(b[j1:j2]).strip("|*.,;")
        if before and after and re.search(r"\d|[A-Z]", before + after):
            yield new, before, after


def _changed_fact(change: DocumentChange, new: str, before: str, after: str) -> tuple[str, str] | None:
    line = MARKUP.sub("", new).strip()
    if "|" in line:
        cells = [c.strip() for c in line.strip("|").split("|") if c.strip()]
        if not cells or after in cells[0]:
            return None
        return f"In the {change.title}, what is listed for {cells[0]}?", after
    match = _VALUE.search(line)
    wh = _WH[match.lastgroup or "count"] if match and after == match.group().strip() else "how many" if after.isdigit() else "what"
    if len(line.split()) < 6:
        return None
    blanked = line.replace(after, wh, 1)
    return f"According to the {change.title}, {blanked[0].lower() + blanked[1:]}".rstrip(".!; ") + "?", after


def _pick(
    facts: Sequence,
    n: int,
    rng: random.Random,
    key: Callable[[Any], str] = lambda f: f.doc.doc_id,
    rank: Callable[[Any], Any] | None = None,
) -> list:
    """Up to n items spread over groups (documents by default) round-robin (shuffled, seeded).

    With `rank`, each group gives its items lowest rank first instead of in shuffled order.
    """
    groups: dict[str, list] = defaultdict(list)
    for fact in facts:
        groups[key(fact)].append(fact)
    order = sorted(groups)
    rng.shuffle(order)
    for doc in order:
        if rank is None:
            rng.shuffle(groups[doc])
        else:
            groups[doc].sort(key=rank, reverse=True)  # popped from the end
    picked: list = []
    while len(picked) < n and any(groups.values()):
        for doc in order:
            if groups[doc] and len(picked) < n:
                picked.append(groups[doc].pop())
    return picked


def generate_probes(
    documents: Sequence[Document],
    *,
    diff: CorpusDiff | None = None,
    per_kind: int = 20,
    seed: int = 0,
    chunking: CorpusConfig | None = None,
    count_tokens: TokenCounter | None = None,
) -> ProbeSet:
    """Validated probes of every kind from `documents`; changed_fact probes need `diff` (corpus.diff_versions).

    A probe is kept only if one chunk holds its answer; pass the workspace's `[corpus]` settings as
    `chunking` and the embedder's `count_tokens` so those are the chunks the index holds
    (`chunk_corpus`; without them, the default settings and approximate counting).
    """
    rng = random.Random(seed)
    rejected: dict[str, Counter] = defaultdict(Counter)
    corpus = {w.lower() for doc in documents for w in re.findall(r"[\w-]+", doc.text)}
    public_text = " ".join(d.text for d in documents if not d.acl)
    chunks: dict[str, list[str]] = {d.doc_id: [] for d in documents}
    for chunk in chunk_corpus(documents, chunking or CorpusConfig(), count_tokens):
        chunks[chunk.doc_id].append(chunk.text)
    facts: dict[bool, list[_Fact]] = {False: [], True: []}
    seen: set[str] = set()
    for doc in documents:
        for fact in extract_facts(doc):
            reason = (
                "duplicate question"
                if fact.question in seen
                else "answer inside the question"
                if normalize_answer(fact.answer) in normalize_answer(fact.question)
                else None
                if _supported(fact, chunks)
                else "not supported by one chunk"
            )
            if doc.acl and reason is None and fact.answer in public_text:
                reason = "restricted answer also in a public document"
            if reason:
                rejected["restricted" if doc.acl else "fact"][reason] += 1
                continue
            seen.add(fact.question)
            facts[bool(doc.acl)].append(fact)
    public = _pick(facts[False], len(facts[False]), rng)
    out: list[QAItem] = []

    def add(kind: str, question: str, answers: Sequence[str], gold: Sequence[str], meta: dict, answerable: bool = True) -> None:
        out.append(
            QAItem(f"{kind}-{sum(i.kind == kind for i in out) + 1:03d}", question, tuple(answers), answerable, tuple(gold), kind, meta)
        )

    for fact in public[:per_kind]:
        add("fact", fact.question, [fact.answer], [fact.doc.doc_id], {"statement": fact.statement})
    for fact in _pick(facts[True], per_kind, rng):
        add("restricted", fact.question, [fact.answer], [fact.doc.doc_id], {"acl": sorted(fact.doc.acl)})
    for kind in ("paraphrase", "typo", "unanticipated", "out_of_scope"):
        if kind == "unanticipated":  # the corpus's own definitions first; invented user words fill up
            for probe in _jargon_probes(documents, public, chunks, rejected["unanticipated"])[:per_kind]:
                add(kind, *probe)
        made = sum(i.kind == kind for i in out)
        for fact in public:
            if made >= per_kind:
                break
            frame, body = frame_body(fact.question)
            meta: dict = {"derived_from": fact.question}
            if kind == "paraphrase":
                new_body, used = substitute(body, SYNONYMS, None)
                question = f"{re.sub(r'^(According to|In) the ', 'Per the ', frame)}{new_body}?"
                reason = None if used else "no synonym applies"
            elif kind == "typo":
                question, reason = typo(frame + body, rng), None
                if question == (frame + body).lower().replace(",", ""):
                    reason = "no word long enough to misspell"
            elif kind == "unanticipated":
                new_body, used = substitute(body, USER_WORDS, corpus)
                question, reason = f"{frame}{new_body}?", None if used else "no user word absent from the corpus"
                meta["user_terms"] = used
            else:
                question, reason = out_of_scope(frame, body, corpus)
                meta["absent_terms"] = [question.split("\x00")[1]] if reason is None else []
                question = question.split("\x00")[0]
            if reason:
                rejected[kind][reason] += 1
                continue
            made += 1
            if kind == "out_of_scope":
                add(kind, question, [], [], meta, answerable=False)
            else:
                add(kind, question, [fact.answer], [fact.doc.doc_id], meta)
    for probe in _bridge_probes(documents, chunks, per_kind, seed, rejected["multi_doc"]):
        add("multi_doc", *probe)
    pairs = [(a, b) for a, b in zip(public[::2], public[1::2])]  # two unrelated facts fill up
    for a, b in pairs:
        if sum(i.kind == "multi_doc" for i in out) >= per_kind:
            break
        if (
            a.doc.doc_id == b.doc.doc_id
            or normalize_answer(a.answer) in normalize_answer(b.answer)
            or normalize_answer(b.answer) in normalize_answer(a.answer)
        ):
            rejected["multi_doc"]["same document or overlapping answers"] += 1
            continue
        question = (
            f"Two things: {frame_body(a.question)[1]} (in the {a.doc.title}); and {frame_body(b.question)[1]} (in the {b.doc.title})?"
        )
        add("multi_doc", question, [f"{a.answer}; {b.answer}"], [a.doc.doc_id, b.doc.doc_id], {"answer_parts": [a.answer, b.answer]})
    changed: list[tuple[DocumentChange, str, str, str]] = []
    for change in diff.changed if diff else ():
        for new, before, after in _changed_pairs(change):
            made_fact = _changed_fact(change, new, before, after)
            if made_fact is None or normalize_answer(before) == normalize_answer(after):
                rejected["changed_fact"]["no single askable value changed"] += 1
                continue
            changed.append((change, made_fact[0], before, after))
    for change, question, before, after in _pick(changed, per_kind, rng, key=lambda c: c[0].doc_id):
        add("changed_fact", question, [before], [change.doc_id], {"answers_v2": [after], "changed_in": diff.new if diff else 2})
    return ProbeSet(tuple(out), {k: dict(v) for k, v in rejected.items() if v})


def _jargon_probes(documents: Sequence[Document], facts: Sequence[_Fact], chunks: dict[str, list[str]], rejected: Counter) -> list[_Probe]:
    """Unanticipated probes in the corpus's own words for its jargon, best first.

    Mostly a defined term asked for by its definition ("what do we call the engineer on call this
    week?" -> the term); every third, a fact asked with a defined term swapped for its definition.
    """
    lowercase = lowercase_words(documents)
    definitions = [d for doc in documents if not doc.acl for d in find_definitions(doc, lowercase)]
    named: list[_Probe] = []
    askable: list[Definition] = []  # definitions whose gloss passed: the only ones facts are reworded with
    seen: set[str] = set()
    for definition in by_spread(definitions, documents):
        question = definition_question(definition, lowercase)
        reason = rejection(definition, question, lowercase) or ("duplicate question" if question in seen else None)
        if reason is None and not supported(definition.term, definition.statement, chunks[definition.doc.doc_id]):
            reason = "definition not supported by one chunk"
        if reason:
            rejected[reason] += 1
            continue
        seen.add(question)
        askable.append(definition)
        meta: dict[str, object] = {"term": definition.term, "definition": definition.gloss, "source": definition.source}
        named.append((question, (definition.term, *definition.aliases), (definition.doc.doc_id,), meta))
    swapped: list[_Probe] = []
    for fact in facts:
        frame, body = frame_body(fact.question)
        new_body, terms = swap_terms(body, askable, lowercase)
        if not terms:
            continue
        if normalize_answer(fact.answer) in normalize_answer(new_body):
            rejected["answer inside the question"] += 1
            continue
        if any(says(new_body, term, lowercase) for term in terms):
            rejected["question still uses the term"] += 1
            continue
        meta = {"derived_from": fact.question, "terms": terms}
        swapped.append((f"{frame}{new_body}?", (fact.answer,), (fact.doc.doc_id,), meta))
    return [p for i in range(len(named) + len(swapped)) for p in named[2 * i : 2 * i + 2] + swapped[i : i + 1]]  # 2:1


def _bridge_probes(documents: Sequence[Document], chunks: dict[str, list[str]], limit: int, seed: int, rejected: Counter) -> list[_Probe]:
    """Multi-document bridge probes whose every hop is supported by one chunk of its document."""
    bridges, reasons = find_bridges(documents)
    rejected.update(reasons)
    kept = []
    for bridge in bridges:
        if all(supported(needle, statement, chunks[doc_id]) for doc_id, needle, statement in bridge.evidence):
            kept.append(bridge)
        else:
            rejected["not supported by one chunk"] += 1
    # one question per relation a round, the attributes people ask about first; an own generator keeps other kinds' draws
    picked = _pick(kept, limit, random.Random(seed), key=lambda b: b.meta["relation"], rank=lambda b: b.rank)
    return [(b.question, (b.answer,), b.gold, b.meta) for b in picked]
