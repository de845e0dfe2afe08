"""In-house terms and what they mean, found in the documents: the words users ask with instead.

Users rarely know a company's jargon: they ask "what do we call the engineer on call this week?"
where the documents say "Duty Warden". A `Definition` pairs a term with its everyday gloss, read
from the shapes documents define terms in: glossary entries (`**Term** — The ...`, `**Term:** ...`,
`ACR (Long Name) — ...`), prose ("X is our name for Y", "X is our Y", "X means Y", "Y, known as X",
"X, our Y", "Y (the "X")", "X (the Y)") and tables with a meaning/definition/description column.
`definition_question` asks for the term by its gloss; `swap_terms` rewrites a fact question in the
gloss's words. A term must hold a *distinctive* word (one the corpus never writes in lower case, or
one mixing letters and digits) and not open with an ordinary word: otherwise it is not jargon
worth asking about (or not a term at all: "In Italy, our results ...").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ragft.synth.doc_text import lines
from ragft.text import normalize_answer
from ragft.types import Document

_DASH_ENTRY = re.compile(r"^(?P<term>[A-Z0-9][^—–:]{0,60}?)\s+[—–]\s+(?P<gloss>\S.*)$")
_BOLD_ENTRY = re.compile(r"^(?:\*\*|__)(?P<term>[^*_]{1,60}?):?(?:\*\*|__):?\s*(?:[—–-]\s+)?(?P<gloss>\S.*)$")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")
_ACRONYM = re.compile(r"^(?P<short>[A-Z][A-Z0-9&-]{1,9})\s*\((?P<long>[^)]+)\)$")
_TERM = r"[A-Z][\w-]*(?: [A-Z][\w-]*){0,3}(?: [a-z]+)?"  # "Keelmarks", "Greenlight Board", "Tidegate review"
_PROSE = (
    re.compile(rf"^(?:The )?[\"“]?(?P<term>{_TERM})[\"”]? (?:is|are) (?:our|the) (?:name|word|term) for (?P<gloss>.+)$"),
    re.compile(r"^[\"“](?P<term>[^\"”]{2,40})[\"”] (?:means|stands for|refers to) (?P<gloss>.+)$"),
    re.compile(rf"^(?:The )?(?P<term>{_TERM}) (?:means|stands for|refers to) (?P<gloss>.+)$"),
    re.compile(rf"^(?:The )?(?P<term>{_TERM}) (?:is|are) (?P<gloss>(?:our|the|[A-Z]\w+'s) .+)$"),
    re.compile(
        rf"(?P<gloss>\b(?:the|a|an|our) [a-z][\w -]+?),? (?:is |are )?(?:called|known as) [\"“]?(?P<term>{_TERM})[\"”]?(?=[,.;)]|$)"
    ),
    re.compile(rf"(?P<term>\b{_TERM}), (?P<gloss>our [a-z][\w -]+?)(?=[,.;]|$)"),
    re.compile(r"(?P<gloss>\b(?:the|a|an|our) [a-z][\w -]+?) \((?:the |our )?[\"“](?P<term>[^\"”]{2,40})[\"”]\)"),
    re.compile(rf"(?P<term>\b{_TERM}) \((?P<gloss>(?:the|our) [a-z][^)]+)\)"),
)
_MEANING_COLUMN = re.compile(r"^(?:meaning|means|definition|description|describes|examples?|explanation|purpose)\b", re.I)
_TERM_COLUMN = re.compile(r"^(?:name|term|word|label|code)\b", re.I)
_DETERMINER = re.compile(r"^(?:the|a|an|our|any|each|every)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")
_NOT_A_TERM = frozenset(
    "it this that these those there they we you he she its each every everyone nobody our "
    "what when where who how if all some any one".split()
)
_ASK = ("What do we call {gloss}?", "What is our name for {gloss}?", "What is the internal name for {gloss}?")
_COPULA = re.compile(r"\s(?:is|are|was|were|be)\s")
_MIN_GLOSS_WORDS, _MAX_GLOSS_WORDS = 3, 25
_SOURCES = ("entry", "prose", "table")
_PREPOSITIONS = "in|on|at|to|from|by|with|for|of|into|through|via|about"
_FOLLOWERS = (
    "is|are|was|were|has|have|must|may|can|will|should|shall|does|do|of|for|in|on|at|to|by|with|and|or|which|that|who|where|when|as|than"
)


@dataclass(frozen=True)
class Definition:
    """A term as the corpus writes it, the everyday words that define it, and the line saying so."""

    doc: Document
    term: str
    aliases: tuple[str, ...]  # other accepted answers: an acronym's long form
    gloss: str
    statement: str  # checked against the document's chunks
    source: str  # "entry" (a glossary-style line), "prose" or "table"
    column: str | None = None  # the term column's header, for definitions read from a table row


def lowercase_words(documents: Iterable[Document]) -> set[str]:
    """Every word the corpus writes in lower case somewhere: what `distinctive` words never are."""
    return {w for doc in documents for w in re.findall(r"\b[a-z][\w'-]*", doc.text)}


def distinctive(term: str, lowercase: set[str]) -> list[str]:
    """Words of `term` the corpus never writes in lower case, or that mix letters and digits: its jargon."""
    words = [w for w in re.findall(r"[\w'-]+", term) if not w.isdigit()]
    return [w for w in words if any(c.isdigit() for c in w) or (w.lower() not in lowercase and w[0].isupper())]


def find_definitions(doc: Document, lowercase: set[str]) -> list[Definition]:
    """Every term `doc` defines, from its glossary entries, prose and meaning tables."""
    found = [*_entries(doc), *_prose(doc), *_table_rows(doc)]
    seen: set[tuple[str, str]] = set()
    kept = []
    for definition in found:
        key = (definition.term.lower(), definition.gloss.lower())
        if key not in seen and (definition.column or _jargon(definition.term, lowercase)):
            seen.add(key)
            kept.append(definition)
    return kept


def _jargon(term: str, lowercase: set[str]) -> bool:
    """A term with a distinctive word that does not open with an ordinary one ("In Italy", "Since the X")."""
    words = term.split()
    return bool(words and distinctive(term, lowercase)) and words[0].lower() not in lowercase


def _entries(doc: Document) -> list[Definition]:
    """`Term — gloss` and `**Term:** gloss` lines; in a glossary-like document any gloss, else only 'The ...'."""
    entries = []
    for raw in doc.text.splitlines():
        line = _LIST_MARK.sub("", raw.strip())
        match = _BOLD_ENTRY.match(line) or _DASH_ENTRY.match(line.replace("**", ""))
        if match and not line.startswith("#"):
            term, aliases = _split_acronym(match.group("term").strip().strip('`"“”'))
            gloss = _trim(_SENTENCE_END.split(match.group("gloss").replace("**", ""))[0])
            entries.append(Definition(doc, term, aliases, gloss, f"{term} {gloss}", "entry"))
    glossary = len(entries) >= 3 and sum(bool(_DETERMINER.match(e.gloss)) for e in entries) >= 2 * len(entries) / 3
    return [e for e in entries if glossary or _DETERMINER.match(e.gloss)]


def _prose(doc: Document) -> list[Definition]:
    """Sentences that say what a term means ("X is our Y", "Y, known as X", "X means Y", ...)."""
    out = []
    for header, sentence in lines(doc.text):
        if header is not None:
            continue
        for pattern in _PROSE:
            match = pattern.search(sentence.rstrip("."))
            if match and match.group("term").split()[0].lower() not in _NOT_A_TERM:
                term, aliases = _split_acronym(match.group("term").strip())
                out.append(Definition(doc, term, aliases, _trim(match.group("gloss")), sentence, "prose"))
                break
    return out


def _table_rows(doc: Document) -> list[Definition]:
    """Rows of a table with a meaning/definition/examples column: the row's name is the term."""
    out = []
    for header, row in lines(doc.text):
        if header is None:
            continue
        names, cells = header.split(" | "), row.split(" | ")
        meaning = next((i for i, n in enumerate(names) if _MEANING_COLUMN.match(n)), None)
        if meaning is None or len(cells) != len(names):
            continue
        term = next((i for i, n in enumerate(names) if _TERM_COLUMN.match(n) and i != meaning), 0 if meaning else None)
        if term is not None and cells[term] and cells[meaning] and re.search(r"[A-Za-z]", cells[term]):
            out.append(Definition(doc, cells[term], (), cells[meaning], row, "table", column=names[term]))
    return out


def _split_acronym(term: str) -> tuple[str, tuple[str, ...]]:
    """'CCR (Cold Chain Rating)' -> ('CCR', ('Cold Chain Rating',)); other parentheses are dropped."""
    match = _ACRONYM.match(term)
    if match:
        return match.group("short"), (match.group("long").strip(),)
    return re.sub(r"\s*\([^)]*\)$", "", term), ()


def _trim(gloss: str) -> str:
    """The first clause of a gloss: cut at a comma, semicolon or dash once three words are in."""
    gloss = gloss.strip().rstrip(".")
    for match in re.finditer(r",\s|;\s|\s[—–]\s", gloss):
        if len(gloss[: match.start()].split()) >= 3:
            return gloss[: match.start()]
    return gloss


def definition_question(definition: Definition, lowercase: set[str]) -> str:
    """The question a user asks who knows what the thing is but not what the company calls it.

    Glossary-style entries are in-house words, so their questions vary between "we call" and "our
    name"; prose and tables may define anything, so theirs stay neutral.
    """
    if definition.column is not None:
        column = " ".join(_in_sentence(w, lowercase) for w in definition.column.split())
        return f"In the {definition.doc.title}, which {column} means “{definition.gloss}”?"
    ask = _ASK[sum(map(ord, definition.term)) % len(_ASK)] if definition.source == "entry" else _ASK[0]
    return ask.format(gloss=_phrase(definition.gloss, lowercase))


def _phrase(gloss: str, lowercase: set[str]) -> str:
    """`gloss` to sit inside a sentence: 'The engineer who ...' -> 'the engineer who ...' (names keep their capital)."""
    first, _, rest = gloss.partition(" ")
    return f"{_in_sentence(first, lowercase)} {rest}".strip()


def _in_sentence(word: str, lowercase: set[str]) -> str:
    """`word` in lower case if the corpus writes it so; acronyms and names as they are."""
    acronym = sum(c.isupper() for c in word) > 1
    return word.lower() if not acronym and word.lower() in lowercase else word


def rejection(definition: Definition, question: str, lowercase: set[str]) -> str | None:
    """Why a definition question is no good, or None: it must be askable and must not say the term.

    Askable: a noun phrase of a few words to a long line's worth, brackets and quotes closed, no
    verb 'to be' inside (that is a clause: "the largest city and the capital is ...").
    """
    gloss = definition.gloss
    if not _MIN_GLOSS_WORDS <= len(gloss.split()) <= _MAX_GLOSS_WORDS:
        return "definition too short or too long to ask"
    if any(gloss.count(a) != gloss.count(b) for a, b in ("()", "[]", "“”")) or gloss.count('"') % 2 or _COPULA.search(gloss):
        return "definition is not a plain phrase"
    if any(says(question, term, lowercase) for term in (definition.term, *definition.aliases)):
        return "question uses the term itself"
    return None


def says(question: str, term: str, lowercase: set[str]) -> bool:
    """Whether `question` uses `term`, whole or by one of its distinctive words."""
    asked = {w.lower() for w in re.findall(r"[\w'-]+", question)}
    return any(w.lower() in asked for w in distinctive(term, lowercase)) or normalize_answer(term) in normalize_answer(question)


def by_spread(definitions: Sequence[Definition], documents: Sequence[Document]) -> list[Definition]:
    """Definitions best first, each term once per round.

    Glossary-style entries first (a glossary lists exactly the words newcomers do not know), then
    prose, then table rows; within each, terms the most documents use first: users meet those.
    A second definition of a term (from another document) waits until every term has had one.
    """
    uses = Counter({d.term: sum(d.term.lower() in doc.text.lower() for doc in documents) for d in definitions})
    groups: dict[str, list[Definition]] = {}
    for definition in sorted(definitions, key=lambda d: _SOURCES.index(d.source)):
        groups.setdefault(definition.term.lower(), []).append(definition)
    order = sorted(groups.values(), key=lambda g: (_SOURCES.index(g[0].source), -uses[g[0].term], g[0].term))
    return [group[i] for i in range(max(map(len, order), default=0)) for group in order if i < len(group)]


def swap_terms(body: str, definitions: Sequence[Definition], lowercase: set[str]) -> tuple[str, list[str]]:
    """`body` with defined terms replaced by their glosses, where the grammar allows; the terms swapped.

    A term is swapped where it stands as a noun phrase of its own: after an article (replaced with
    it), a preposition or at the start, and not followed by a noun it modifies ("the XPL discount").
    Each term is swapped once, never inside a gloss put in for another term.
    """
    pieces: list[tuple[str, bool]] = [(body, False)]  # (text, is an inserted gloss)
    swapped = []
    for definition in sorted(definitions, key=lambda d: -len(d.term)):
        if definition.column is not None or definition.term in swapped:
            continue
        if definition.gloss.lower() in body.lower():
            continue  # the sentence defines the term itself: swapping would say it twice
        pattern = re.compile(
            rf"(?:^|\b(?P<prep>(?i:{_PREPOSITIONS}) )|\b(?i:the|a|an|our) )(?i:{re.escape(definition.term)})s?\b"
            rf"(?! (?!(?:{_FOLLOWERS})\b)[A-Za-z])"
        )
        for i, (text, inserted) in enumerate(pieces):
            match = None if inserted else pattern.search(text)
            if match:
                gloss = (match.group("prep") or "") + _noun_phrase(definition.gloss, lowercase)
                pieces[i : i + 1] = [(text[: match.start()], False), (gloss, True), (text[match.end() :], False)]
                swapped.append(definition.term)
                break
    return "".join(text for text, _ in pieces), swapped


def _noun_phrase(gloss: str, lowercase: set[str]) -> str:
    """The gloss as a noun phrase: with its determiner, 'the' added if it has none (nor a possessive)."""
    first = gloss.split()[0]
    return _phrase(gloss, lowercase) if _DETERMINER.match(gloss) or first.endswith("'s") else f"the {_phrase(gloss, lowercase)}"
