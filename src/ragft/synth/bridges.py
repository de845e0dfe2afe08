"""Bridge questions: an entity one document names, asked about by what another document says of it.

Real multi-document questions chain: "which team does the owner of the ingest-outage report
belong to?" needs the report (owner: a person) and the team directory (that person's team). A
`Record` is a row or line keyed by an entity with labelled attributes (a table row under its
header; a line `Key — Label: value; Label: value`). A `Mention` is an entity named in a relation
in another document: a `Label: value` field, a table cell under its column, "the <label> is
<value>". Forward bridges ask for a record's attribute through the mention's relation, never by
the entity's name; reverse bridges ask which entity (by name) holds a role another document refers
to ("the Finance Controller approves ..." -> who is that?). Every candidate carries the evidence
each document must give (checked against its chunks by the caller), and rejections are counted.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ragft.synth.doc_text import MARKUP, PRONOUN_START, lines
from ragft.text import normalize_answer
from ragft.types import Document

_FIELD = re.compile(r"^(?P<label>[A-Z][A-Za-z ]{1,30}?):\s+(?P<value>\S.*?)\.?$")
_NAMED = re.compile(r"\b(?:the|our) (?P<label>[a-z][a-z -]{2,40}?) (?:is|was) (?P<value>[A-Z].*)$")
_LINE_RECORD = re.compile(r"^(?P<key>[A-Z][^:—–|]{1,60}?)\s+[—–]\s+(?P<rest>.*:.*)$")
_PAIR = re.compile(r"(?P<label>[A-Za-z][\w ]{1,30}):\s*(?P<value>[^;|]+)")
_PERSON_COLUMN = re.compile(r"\b(?:role|title|position|job)\b", re.I)
_GROUP = re.compile(r"\b(?:team|department|group|unit|division)\b", re.I)
_PLACE = re.compile(r"\b(?:office|location|city|site|country|base)\b", re.I)
_PLURAL = re.compile(r"[^su]s$")
_SUBJECT = re.compile(r"^(?:The )?[A-Z][\w-]*(?: [\w-]+){0,4}?(?= (?:is|are|was|were)\b)")
_EMPTY = frozenset({"", "-", "–", "—", "none", "n/a"})
_MAX_ANSWER_WORDS = 6
_MAX_SENTENCE_WORDS = 40


@dataclass(frozen=True)
class Record:
    """A row or line about one entity: its key and its labelled attributes."""

    doc: Document
    key: str
    attributes: tuple[tuple[str, str], ...]
    line: str


@dataclass(frozen=True)
class Mention:
    """A value a document gives for a relation ("the report owner of the X"), and the line saying so."""

    doc: Document
    relation: str
    value: str
    line: str


@dataclass(frozen=True)
class Bridge:
    """A two-document question, its answer, and (doc_id, needle, statement) each document must support."""

    question: str
    answer: str
    gold: tuple[str, str]
    evidence: tuple[tuple[str, str, str], ...]
    meta: dict = field(default_factory=dict)
    rank: int = 0  # how readily people ask this (`attribute_rank`): lower first


def find_records(doc: Document) -> list[Record]:
    """Table rows (keyed by their first cell) and `Key — Label: value; ...` lines of `doc`."""
    records = []
    for header, line in lines(doc.text):
        if header is not None:
            names, cells = header.split(" | "), line.split(" | ")
            if len(cells) == len(names) and _is_key(cells[0]):
                pairs = tuple((n, c) for n, c in zip(names[1:], cells[1:]) if n and c.lower() not in _EMPTY)
                records.append(Record(doc, cells[0], pairs, line))
        elif (match := _LINE_RECORD.match(line)) and _is_key(match.group("key")):
            pairs = tuple((m.group("label").strip(), m.group("value").strip(" .")) for m in _PAIR.finditer(match.group("rest")))
            if len(pairs) >= 2:
                records.append(Record(doc, match.group("key").strip(), pairs, line))
    return records


def _is_key(text: str) -> bool:
    """A cell that names something: has a capital letter, is short, is not a bare number."""
    return bool(re.search(r"[A-Z]", text)) and len(text.split()) <= 6 and not re.fullmatch(r"[\d\W]+", text)


def find_mentions(doc: Document) -> list[Mention]:
    """Relations `doc` fills with a value: `Label: value` fields, table cells, 'the <label> is <value>'.

    Headings are not fields ("# Report: outage of 3 May") and plural labels ("Attendees:") list several.
    """
    headings = {MARKUP.sub("", raw).strip() for raw in doc.text.splitlines() if raw.lstrip().startswith("#")}
    mentions = []
    for header, line in lines(doc.text):
        if header is not None:
            names, cells = header.split(" | "), line.split(" | ")
            label = next((c for c in cells if re.search(r"[A-Za-z]", c)), "")
            for name, cell in zip(names, cells) if len(cells) == len(names) else ():
                if name and cell != label:
                    mentions.append(Mention(doc, f"the {name.lower()} of “{label}” in the {doc.title}", cell, line))
        elif (match := _FIELD.match(line)) and line not in headings and not _PLURAL.search(match.group("label")):
            mentions.append(Mention(doc, f"the {match.group('label').lower()} of the {doc.title}", match.group("value"), line))
        elif match := _NAMED.search(line):
            mentions.append(Mention(doc, f"the {match.group('label')} named in the {doc.title}", match.group("value"), line))
    return mentions


def find_bridges(documents: Sequence[Document]) -> tuple[list[Bridge], Counter]:
    """Forward and reverse bridges between the public `documents`, and rejections counted by reason."""
    public = [d for d in documents if not d.acl]
    records = [r for doc in public for r in find_records(doc)]
    rejected: Counter = Counter()
    bridges = [*_forward(public, records, rejected), *_reverse(public, records, rejected)]
    seen: set[str] = set()
    kept = []
    for bridge in bridges:
        if bridge.question in seen:
            rejected["duplicate question"] += 1
            continue
        seen.add(bridge.question)
        kept.append(bridge)
    return kept, rejected


def _starts_with(value: str, key: str) -> bool:
    return value.startswith(key) and not value[len(key) : len(key) + 1].isalnum()


def _forward(documents: Sequence[Document], records: Sequence[Record], rejected: Counter) -> list[Bridge]:
    """Mentions in one document whose value is a record's key in another: ask the record's attributes."""
    keys = sorted({r.key for r in records}, key=len, reverse=True)
    out = []
    for doc in documents:
        text = normalize_answer(doc.text)
        named: dict[str, set[str]] = defaultdict(set)
        found = []
        for mention in find_mentions(doc):
            hits = [k for k in keys if re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", mention.value)]
            if hits:
                named[mention.relation].update(hits)
                found.append((mention, hits))
        for mention, hits in found:
            if len(named[mention.relation]) > 1:
                rejected["relation names several entities"] += 1
                continue
            if not _starts_with(mention.value, hits[0]):
                rejected["entity is not what the relation names"] += 1
                continue
            for record in (r for r in records if r.key == hits[0] and r.doc.doc_id != doc.doc_id):
                out.extend(_ask_attributes(mention, text, record, rejected))
    return out


def _ask_attributes(mention: Mention, text: str, record: Record, rejected: Counter) -> list[Bridge]:
    """One question per attribute of `record`, naming the entity only through `mention`'s relation.

    `text` is the mentioning document's normalised text: an answer it holds needs no second document.
    """
    out = []
    for label, value in record.attributes:
        question = _attribute_question(label, mention.relation)
        if len(value.split()) > _MAX_ANSWER_WORDS:
            rejected["attribute too long to be an answer"] += 1
        elif normalize_answer(value) in text:
            rejected["answer also in the first document"] += 1
        elif normalize_answer(record.key) in normalize_answer(question) or normalize_answer(value) in normalize_answer(question):
            rejected["question names the entity or the answer"] += 1
        else:
            evidence = ((mention.doc.doc_id, record.key, mention.line), (record.doc.doc_id, value, record.line))
            meta = {"bridge": record.key, "relation": mention.relation, "attribute": label}
            out.append(Bridge(question, value, (mention.doc.doc_id, record.doc.doc_id), evidence, meta, attribute_rank(label)))
    return out


def attribute_rank(label: str) -> int:
    """How readily people ask for an attribute: group and place first, then role, then any other column."""
    return 0 if _GROUP.search(label) else 1 if _PLACE.search(label) else 2 if _PERSON_COLUMN.search(label) else 3


def _attribute_question(label: str, relation: str) -> str:
    """'Which team does <relation> belong to?', 'In which office is <relation> based?', else 'What is the <label> of ...'."""
    low = label.lower()
    if _GROUP.search(low):
        return f"Which {low} does {relation} belong to?"
    if _PLACE.search(low):
        return f"In which {low} is {relation} based?"
    return f"What is the {low} of {relation}?"


def _reverse(documents: Sequence[Document], records: Sequence[Record], rejected: Counter) -> list[Bridge]:
    """Roles another document refers to ("the Finance Controller") that one record holds: ask who, by name."""
    holders: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        for label, value in record.attributes:
            if _PERSON_COLUMN.search(label) and len(value.split()) >= 2:
                holders[value].append(record)
    out = []
    for role, records_of_role in holders.items():
        if len({r.key for r in records_of_role}) != 1:
            continue  # several people hold it: "who, by name" has no single answer
        record = records_of_role[0]
        for doc in documents:
            if doc.doc_id != record.doc.doc_id:
                out.extend(_ask_holder(doc, role, record, rejected))
    return out


def _ask_holder(doc: Document, role: str, record: Record, rejected: Counter) -> list[Bridge]:
    """Questions of `doc` whose lines refer to `role` ("the <role>"), asking for the holder's name."""
    pattern = re.compile(rf"\b[Tt]he {re.escape(role)}(?![\w-])")
    if not pattern.search(doc.text):
        return []
    if normalize_answer(record.key) in normalize_answer(doc.text):
        rejected["answer also in the first document"] += 1
        return []
    out, previous = [], ""
    for header, line in lines(doc.text):
        asked, previous = _resolve_pronoun(line, previous), line
        if not pattern.search(line):
            continue
        if header is not None:
            names, cells = header.split(" | "), line.split(" | ")
            if len(cells) != len(names) or pattern.search(cells[0]):
                rejected["role names the table row itself"] += 1
                continue
            column = next(n for n, c in zip(names, cells) if pattern.search(c))
            question = f"In the {doc.title}, who, by name, is the {column.lower()} for {cells[0]}?"
        elif PRONOUN_START.match(asked) or len(asked.split()) > _MAX_SENTENCE_WORDS:
            rejected["sentence needs its context to be asked"] += 1
            continue
        else:
            blanked = pattern.sub("which person (by name)", asked, count=1).rstrip(".!;: ")
            question = f"According to the {doc.title}, {blanked[0].lower() + blanked[1:]}?"
        evidence = ((doc.doc_id, role, line), (record.doc.doc_id, record.key, record.line))
        meta = {"bridge": role, "relation": f"holder of the {role} in the {doc.title}", "attribute": "name"}
        out.append(Bridge(question, record.key, (doc.doc_id, record.doc.doc_id), evidence, meta, rank=0))
    return out


def _resolve_pronoun(line: str, previous: str) -> str:
    """'It is chaired by ...' after 'The review board is ...' -> 'The review board is chaired by ...'."""
    subject = _SUBJECT.match(previous)
    pronoun = re.match(r"^(?:It|They)\b", line)
    return subject.group() + line[pronoun.end() :] if subject and pronoun else line
