"""Rule facts read from a sentence's clause rather than from a value in it: its subject, its object, its definition.

Most sentences name no number, date or other proper name past their first word, yet state a fact
someone will ask about: "Robert Nozick argued that government redistributes wealth by force."
(who argued that?), "The Hawaiian Islands are made of layered basaltic lava flows." (what are they
made of?), "Yuan was the khanate ruled by the successors of Möngke Khan." (what was Yuan? which
khanate was that?). Four forms, each asked without echoing the sentence (`is_echo`):

- subject: the clause's subject is the answer, its predicate the question ("Who argued that
  government redistributes wealth by force?");
- object: what a past-tense or passive verb acts on: "What were the Hawaiian Islands made of?"
  answered "layered basaltic lava flows", and "What were made of layered basaltic lava flows?"
  answered by the subject;
- definition: "X is/was (the|a) Y": "What was Yuan?" answered "the khanate ...", and the other
  direction ("What was the khanate ...?" answered "Yuan");
- leading value: "In 1018, Roger de Tosny travelled to the Iberian Peninsula." asks "In what year
  did Roger de Tosny travel to the Iberian Peninsula?" (see `leading_value_questions`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ragft.synth.rule_questions import (
    _AUX,
    _IRREGULAR,
    _LOWER_FIRST,
    _TRAILING_ADVERBS,
    _base_form,
    _clean,
    _is_subject,
    _lower_subject,
    _past,
    _plain_verb,
    _pronoun,
    is_echo,
    without_asides,
)

MAX_PREDICATE_WORDS = 10  # words of the predicate a subject question keeps: the ones nearest the verb, cut at a phrase boundary
MAX_SUBJECT_WORDS = 6  # a longer subject is a phrase, not a name anyone asks for
MAX_DEFINITION_WORDS = 8
MAX_OBJECT_WORDS = 6
_COPULA = re.compile(r"\b(is|are|was|were)\s+(?:(the|a|an)\s+)?")
_CLAUSE_END = re.compile(r"\s*(?:[,;:()]|\b(?:that|which|who|whom|whose|where|when|because|while|although|and|but)\b)")
_PERSON_VERBS = frozenset(
    "argued said wrote led founded proposed believed claimed stated married died discovered invented described "
    "designed composed painted ruled reigned commanded taught studied developed introduced announced defeated".split()
)
_NOT_A_DEFINITION = re.compile(
    r"^(?:not|also|still|often|usually|now|then|very|more|most|less|known|called|why|how|what|where|when|who|because|[a-z]+(?:ed|en|ing|ly))\b"
)
_PHRASE_END = frozenset(
    "the a an its their his her our this that these those to of in on at by for from with as than and or but after before "
    "during since until into over under between among about against within without through such".split()
)
_PARTICIPLES = frozenset("made known found held built taken given seen born grown shown written drawn led kept left sold".split())
_ADVERBS = frozenset("almost also often still mostly always never usually sometimes now then even already once".split())
_OBJECT_PREPOSITIONS = frozenset("of into in on at to from with by for as like about through".split())
_OBJECT_STOPS = frozenset(
    "in on at to from with by for as about through during after before since until because while when where which who "
    "that and or but than so if".split()
)
_LEADING_PREPOSITION = re.compile(r"^(In|On|By|During|Since|After|Before|Until|From|Around|About|Circa|At)\s*$")


@dataclass(frozen=True)
class ClauseFact:
    """A fact read from a sentence's clause: its answer, the questions asking for it (forward) and the
    questions giving it and asking for the other side (reverse: the subject, or what the subject did)."""

    kind: str  # subject | object | definition
    span: tuple[int, int]  # of the answer in the sentence
    questions: tuple[str, ...]
    reverse: tuple[str, ...] = ()
    reverse_answer: str = ""


def clause_facts(sentence: str, title: str, lowered: set[str] | None = None) -> list[ClauseFact]:
    """The subject, object and definition facts of `sentence` (any may be missing), none echoing it; a subject
    fact only when no other fact's reverse questions ask for the subject already."""
    lowered = lowered or set()
    plain, _ = without_asides(sentence, (0, 0))
    split = _subject_split(plain)
    if split is None:
        return []
    subject, verb_at = split
    if not any(w[0].isupper() and w.lower() not in _LOWER_FIRST for w in subject.split()):
        return []  # "The report", "These attacks": a common noun no question asks for by name
    predicate = plain[verb_at:]
    definition = _definition_fact(plain, subject, predicate, title, lowered)
    if definition is not None and definition.reverse:
        found = [definition]  # its reverse questions ask for the subject already
    else:
        found = [f for f in (_subject_fact(plain, subject, predicate, title), definition) if f is not None]
    thing_done = _object_fact(plain, subject, verb_at, title, lowered)
    if thing_done is not None:
        found = [f for f in found if f.kind != "subject" or not thing_done.reverse] + [thing_done]  # its reverse asks for the subject
    return [moved for f in found if (moved := _in_sentence(sentence, plain, f)) is not None]


def _in_sentence(sentence: str, plain: str, fact: ClauseFact) -> ClauseFact | None:
    """`fact`, read from `plain` (the sentence without asides), with its span in `sentence`; None if not a span of it."""
    at = sentence.find(plain[fact.span[0] : fact.span[1]])
    return None if at < 0 else replace(fact, span=(at, at + fact.span[1] - fact.span[0]))


def _subject_split(sentence: str) -> tuple[str, int] | None:
    """(the clause's subject, where its verb starts), or None when the sentence opens with anything else."""
    aux = _AUX.search(sentence)
    verb = _plain_verb(sentence)
    at = min((m.start() for m in (aux, verb) if m is not None), default=-1)
    if at <= 0:
        return None
    subject = _TRAILING_ADVERBS.sub("", sentence[:at].strip())  # "X intensely disliked"
    if subject.split()[-1].lower() in _PHRASE_END:
        return None  # "Chicago also operates or": the verb found is not the clause's first
    if "," in subject or not _is_subject(subject) or len(subject.split()) > MAX_SUBJECT_WORDS:
        return None
    return subject, at


def _phrase(predicate: str) -> list[str]:
    """The predicate's words up to its clause's end, at most MAX_PREDICATE_WORDS, ending on a content word:
    a cut never leaves "... a general computing" or "... to carve out a"."""
    verb, _, rest = predicate.rstrip(".!").strip().partition(" ")
    end = _CLAUSE_END.search(rest.strip(), 1)  # "argued that ...": a clause right after the verb is what it says
    words = [verb, *(rest.strip()[: end.start()] if end else rest).split()]
    cut = len(words) > MAX_PREDICATE_WORDS
    words = words[:MAX_PREDICATE_WORDS]
    if cut:  # the phrase goes on: end before its last preposition, where a noun phrase would be cut in two
        last = max((i for i, w in enumerate(words) if i > 1 and w.lower() in _PHRASE_END), default=len(words))
        words = words[:last]
    while len(words) > 1 and words[-1].lower() in _PHRASE_END:
        words.pop()
    return words


def _subject_fact(sentence: str, subject: str, predicate: str, title: str) -> ClauseFact | None:
    """The subject asked for by its predicate: "Who argued that government redistributes wealth by force?"."""
    words = _phrase(predicate)
    if len(words) < 2:
        return None  # "X died.": the question would be "Who died?"
    names = subject.split()
    person = words[0] in _PERSON_VERBS and 2 <= len(names) <= 3 and all(w[0].isupper() for w in names)
    core = _clean(f"{'who' if person else 'what'} {' '.join(words)}")
    kept = _wordings([core, _clean(f"do you know {core[0].lower()}{core[1:-1]}")], title, sentence, subject)
    if not kept:
        return None
    reverse, said = _what_the_subject_did(sentence, subject, words)
    return ClauseFact("subject", (0, len(subject)), kept, reverse, said)


def _what_the_subject_did(sentence: str, subject: str, words: list[str]) -> tuple[tuple[str, ...], str]:
    """The other way round for a plain verb: "What did Robert Nozick argue?" answered by what follows the verb
    ("that government redistributes wealth by force"); nothing for an auxiliary (a definition asks that)."""
    if _AUX.fullmatch(words[0]) or len(words) < 3:
        return (), ""
    base, did = _base_form(words[0])
    said = " ".join(words[1:])
    question = _clean(f"what {did} {_lower_subject(subject, set())} {base}")
    return ((question,), said) if not is_echo(question, sentence, said) and said.lower() not in question.lower() else ((), "")


def _definition_fact(sentence: str, subject: str, predicate: str, title: str, lowered: set[str]) -> ClauseFact | None:
    """ "X is/was (the|a) Y": "What was X?" answered by Y (up to the clause's end), and "What was Y?" by X."""
    copula = _COPULA.match(predicate)
    if copula is None:
        return None
    rest = predicate[copula.end() :]
    if _NOT_A_DEFINITION.match(rest) or rest.split(" ", 1)[0] in _IRREGULAR:
        return None  # "was founded", "is not", "is often": a passive or an adverb, not "X is a Y"
    words = _CLAUSE_END.split(rest.rstrip(".!"), maxsplit=1)[0].split()[:MAX_DEFINITION_WORDS]
    if not words:
        return None
    start = len(sentence) - len(predicate) + copula.start(2) if copula.group(2) else len(sentence) - len(predicate) + copula.end()
    value = " ".join(filter(None, (copula.group(2), *words)))
    if not sentence[start:].startswith(value):
        return None  # spacing the split changed: the answer must be a span of the sentence
    aux, low = copula.group(1), _lower_subject(subject, lowered)
    forward = [
        _clean(f"what {aux} {low}"),
        _clean(f"do you know what {low} {aux}"),
        _clean(f"{subject}: what {aux} {_pronoun(subject, aux)}"),
    ]
    if title:
        forward.append(f"According to {title}, {forward[0][0].lower()}{forward[0][1:]}")
    reverse = [_clean(f"what {aux} {value}")]
    forward = [q for q in dict.fromkeys(forward) if not is_echo(q, sentence, value) and value.lower() not in q.lower()]
    reverse = [q for q in reverse if not is_echo(q, sentence, value) and subject.lower() not in q.lower()]
    if not forward:
        return None
    return ClauseFact("definition", (start, start + len(value)), tuple(forward), tuple(reverse), subject)


def leading_value_questions(sentence: str, span: tuple[int, int], wh: str, lowered: set[str]) -> list[str]:
    """Questions for a value in an opening phrase: "In 1018, Roger de Tosny travelled to the Iberian Peninsula ...":
    "In what year did Roger de Tosny travel to the Iberian Peninsula?"; none when the sentence has another shape."""
    prep = _LEADING_PREPOSITION.match(sentence[: span[0]].strip())
    after = sentence[span[1] :]
    if prep is None or not after.startswith(","):
        return []
    clause = _CLAUSE_END.split(after[1:].strip().rstrip(".!"), maxsplit=1)[0]
    split = _subject_split(clause)
    if split is None:
        return []
    subject, at = split
    low = _lower_subject(subject, lowered)
    verb, *rest = _phrase(clause[at:])
    middle = " ".join(rest)
    lead = "when" if wh == "when" else f"{prep.group(1).lower()} {wh}"
    if _AUX.fullmatch(verb):
        asked = [_clean(f"{lead} {verb} {low} {middle}"), _clean(f"do you know {lead} {low} {verb} {middle}")]
    else:
        base, did = _base_form(verb)
        asked = [_clean(f"{lead} {did} {low} {base} {middle}"), _clean(f"do you know {lead} {low} {_past(base, did)} {middle}")]
    answer = sentence[span[0] : span[1]]
    return [q for q in asked if not is_echo(q, sentence, answer) and answer not in q]


def _object_fact(sentence: str, subject: str, verb_at: int, title: str, lowered: set[str]) -> ClauseFact | None:
    """What the verb acts on, asked by subject and verb: "What did the Hawaiian Islands consist of?" answered
    "layered basaltic lava flows"; "What were the walls made of?". None for a copula (a definition) or a negation."""
    words = sentence[verb_at:].rstrip(".!").split()
    verb, i = words[0], _after_adverbs(words, 1)
    if _AUX.fullmatch(verb):
        if i >= len(words) or not _participle(words[i]):
            return None  # a copula (`_definition_fact` reads it), or an auxiliary the rules cannot read
        asked, i = f"{verb} {{subject}} {words[i]}", _after_adverbs(words, i + 1)
    elif verb.endswith("ed") or verb in _IRREGULAR:  # past tense: a present "include" is too often a noun ("services")
        base, did = _base_form(verb)
        asked = f"{did} {{subject}} {base}"
    else:
        return None
    if "not" in words[: i + 1] or "never" in words[: i + 1] or i >= len(words):
        return None
    prep = words[i] if words[i] in _OBJECT_PREPOSITIONS else ""
    noun_phrase = _noun_phrase(words[i + 1 :] if prep else words[i:])
    opens = noun_phrase[0] if noun_phrase else ""
    named = bool(opens) and (opens[0].isupper() or opens[0].isdigit() or opens.lower() in _LOWER_FIRST)
    if not noun_phrase or (prep == "to" and not named) or (len(noun_phrase) == 1 and not named):
        return None  # "planned to serve ...": a verb; "made available": one plain word, an adjective more often than not
    value = " ".join(noun_phrase)
    start = sentence.find(value, verb_at)
    if start < 0:
        return None
    low = _lower_subject(subject, lowered)
    core = _clean(f"what {asked.format(subject=low)} {prep}")
    kept = _wordings([core, _clean(f"do you know what {low} {' '.join(words[:i])} {prep}")], title, sentence, value)
    if not kept:
        return None
    reverse = _clean(f"what {' '.join(words[:i])} {prep} {value}")  # "What were refreshed every 3 years?": the subject
    reverse_kept = () if is_echo(reverse, sentence, value) or subject.lower() in reverse.lower() else (reverse,)
    return ClauseFact("object", (start, start + len(value)), kept, reverse_kept, subject if reverse_kept else "")


def _wordings(variants: list[str], title: str, sentence: str, answer: str) -> tuple[str, ...]:
    """The question's wordings, plus one framed by the document's title, minus any that echo the sentence or name the answer."""
    core = variants[0]
    if title:
        variants = [*variants, f"According to {title}, {core[0].lower()}{core[1:]}"]
    return tuple(q for q in dict.fromkeys(variants) if not is_echo(q, sentence, answer) and answer.lower() not in q.lower())


def _after_adverbs(words: list[str], i: int) -> int:
    """The index of the first word from `i` on that is not an adverb ("often", "almost entirely")."""
    while i < len(words) and (words[i].endswith("ly") or words[i] in _ADVERBS):
        i += 1
    return i


def _participle(word: str) -> bool:
    return word in _IRREGULAR or word in _PARTICIPLES or (word.endswith("ed") and len(word) > 4 and word.islower())


def _noun_phrase(words: list[str]) -> list[str]:
    """The noun phrase `words` open with: up to the clause's end or a preposition other than "of", at most
    MAX_OBJECT_WORDS, ending on a content word; [] when they open with a clause ("that ...", "to ...")."""
    if not words or words[0].lower() in ("that", "to", "be", "been", "being", "which", "who", "it", "them", "this"):
        return []
    phrase: list[str] = []
    for word in words[:MAX_OBJECT_WORDS]:
        bare = word.rstrip(",;:")
        if phrase and (bare.lower() in _OBJECT_STOPS or (bare.endswith("ed") and bare.islower())):
            break  # "students enrolled in ...": a participle opens another phrase
        if bare.startswith("("):
            break
        phrase.append(bare)
        if bare != word:
            break  # punctuation ends it
    while phrase and phrase[-1].lower() in _PHRASE_END:
        phrase.pop()
    return phrase if any(w.lower() not in _PHRASE_END for w in phrase) else []
