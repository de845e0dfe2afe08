"""Rule-made questions about one sentence's value, both ways round, that do not echo the sentence.

A question that restates its source sentence with one span replaced by "what" teaches the model
to copy the question into the answer, not the fact (issue 13's first CPU run: 95% recall on such
training questions, 7.7% on real questions about the same facts). So a question here keeps only
the entity and the attribute: the subject, the auxiliary or verb, and the words between them and
the value; whatever follows the value is dropped. Any candidate that still restates more than
ECHO_BOUND of a longer sentence (`is_echo`) is dropped.

- forward, entity -> attribute: "In what year was Orrivale founded?", "Do you know in what year
  Orrivale was founded?", "Orrivale: in what year was it founded?", and the same under the title;
  a sentence without an auxiliary gets do-support ("When did the crisis begin?");
- reverse, attribute -> entity: "What was founded in 2017?", answered by the subject.
"""

from __future__ import annotations

import itertools
import re

ECHO_BOUND = 0.6  # a question may restate at most this share of its sentence's word pairs (see echo_share) ...
ECHO_MIN_PAIRS = 4  # ... unless that is at most this many pairs (a short sentence)
MAX_MIDDLE_WORDS = 8  # words kept between the subject's verb and the value; longer middles keep their last ones

_AUX = re.compile(r"\b(?:is|are|was|were|has|have|had|can|could|will|would|must|should|may|might|shall)\b")
_PREP_END = re.compile(
    r"\b(in|on|at|by|within|for|from|to|under|over|after|before|since|until|during|with|about|around|than|every|each)\s*$", re.I
)
_DETERMINER_END = re.compile(r"\s*\b(?:the|a|an|its|their|our|his|her)\s*$", re.I)
_MONTH_FIRST = re.compile(r"(?:January|February|March|April|May|June|July|August|September|October|November|December)\b")
_ASIDE = re.compile(r"\s*\([^()]*\)")
_BASE_VERBS = frozenset(
    "go need take make get pay run cost last require include allow receive use come give keep start end open close apply cover "
    "earn live work serve offer provide contain win lose hold lead reach".split()
)  # present-tense verbs after a plural subject ("Receipts go to finance"): no -s to find them by
_LOWER_FIRST = frozenset("the a an all every each our most some many any no this that these those its their".split())
_WH = {
    "money": "how much", "percent": "what percentage", "time": "what time", "year": "what year", "name": "what",
    "date": "when", "century": "what century", "decade": "what decade",
}  # fmt: skip
_NOT_SUBJECT_FIRST = frozenset(
    "although though because while when whereas if unless since once until long even however and or but so yet as after "
    "before where whether whose which who that among".split()
)  # a subordinate clause or a conjunction: not the sentence's subject
_PRONOUNS = frozenset("it there this that they he she we i you one".split())
_TRAILING_ADVERBS = re.compile(
    r"(?:\s+(?:also|still|now|then|often|later|first|only|already|soon|thus|therefore|too|"
    r"(?!(?:family|assembly|supply|monopoly|anomaly|butterfly)\b)[a-z]{3,}ly))+$"
)  # "the United States unilaterally pulled out": not part of the subject
_UNIT_WORDS_AFTER_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?\s+(.*)$")
_WORD = re.compile(r"[\w'’-]+")
_IRREGULAR = {
    "began": "begin", "became": "become", "won": "win", "had": "have", "made": "make", "took": "take", "gave": "give",
    "led": "lead", "wrote": "write", "found": "find", "held": "hold", "built": "build", "grew": "grow", "saw": "see",
    "came": "come", "went": "go", "got": "get", "left": "leave", "lost": "lose", "sold": "sell", "bought": "buy",
    "brought": "bring", "fought": "fight", "taught": "teach", "spent": "spend", "rose": "rise", "fell": "fall",
    "ran": "run", "met": "meet", "paid": "pay", "said": "say", "told": "tell", "knew": "know", "drew": "draw",
    "sent": "send", "set": "set", "put": "put", "kept": "keep", "stood": "stand", "struck": "strike", "chose": "choose",
}  # fmt: skip
_E_ENDINGS = (
    "ang",
    "eng",
    "dg",
    "rg",
    "at",
    "iz",
    "is",
    "us",
    "ur",
    "ag",
    "iv",
    "ov",
    "ot",
    "ud",
    "uc",
    "ir",
    "ac",
    "am",
    "ar",
    "id",
    "os",
    "ap",
    "nc",
    "rc",
    "rv",
    "lv",
    "u",
    "in",
    "as",
    "ab",
)
_NOT_AFTER_VERB = frozenset(
    "and or of in on at with for to that which who whose , . ; : is are was were has have had can could will would may might".split()
)  # "surf spots are": a plural noun before an auxiliary is the subject's head, not a verb
_PARTICLES = frozenset("up out off down about away back over along around through".split())
_NOT_VERBS = frozenset("as is was has its this his various previous famous during whereas news series species".split())


def echo_share(question: str, sentence: str, answer: str = "") -> float:
    """Share of `sentence`'s word pairs (those not touching `answer`'s words) that `question` repeats.

    1.0 for a cloze (the sentence with its value replaced by "what"); a question naming only the
    entity and the attribute shares a few. What a trained answer could copy from its question.
    """
    pairs = _sentence_pairs(sentence, answer)
    if not pairs:
        return 0.0
    return len(pairs & set(itertools.pairwise(_words(question)))) / len(pairs)


def is_echo(question: str, sentence: str, answer: str = "") -> bool:
    """Whether `question` restates its sentence: more than ECHO_BOUND of its word pairs, and more than
    ECHO_MIN_PAIRS of them (a question about a six-word sentence cannot help sharing most of it)."""
    share = echo_share(question, sentence, answer)
    return share > ECHO_BOUND and share * len(_sentence_pairs(sentence, answer)) > ECHO_MIN_PAIRS


def _sentence_pairs(sentence: str, answer: str) -> set[tuple[str, str]]:
    """The sentence's adjacent word pairs that do not touch the answer's words."""
    value = set(_words(answer))
    return {(a, b) for a, b in itertools.pairwise(_words(sentence)) if a not in value and b not in value}


def wh_phrase(kind: str, answer: str) -> str:
    """ "how many calendar days", "what year", "how much": the question words asking for a value of `kind`."""
    if kind == "quantity":
        unit = _UNIT_WORDS_AFTER_NUMBER.match(answer)
        return f"how many {unit.group(1)}" if unit else "how many"
    return _WH[kind]


def forward_questions(sentence: str, span: tuple[int, int], kind: str, title: str, lowered: set[str] | None = None) -> tuple[str, ...]:
    """Questions asking for the value at `span` (entity -> attribute), most direct first; none that echo `sentence`.

    `lowered`: words the text uses in lower case (a subject starting with one loses its capital when moved).
    """
    lowered = lowered or set()
    sentence, span = without_asides(sentence, span)
    answer = sentence[span[0] : span[1]]
    wh = wh_phrase(kind, answer)
    clause = _clause(sentence, span[0])
    variants: list[str] = []
    if clause is not None:
        subject, verb, middle, did = clause
        prep = _PREP_END.search(middle)
        lead = wh
        if prep:
            middle, lead = middle[: prep.start()].strip(), f"{prep.group(1)} {wh}"
        if _MONTH_FIRST.match(answer) or kind == "date":  # "in October 1973": a date, asked with "when"
            lead = "when"
        elif kind == "name" and prep and prep.group(1).lower() in ("in", "at", "near"):
            lead = "where"  # "founded in Tampere": a place, asked with "where", not "in what"
        low = _lower_subject(subject, lowered)
        if did:  # "began" -> "did ... begin"
            variants += [_clean(f"{lead} {did} {low} {verb} {middle}"), _clean(f"do you know {lead} {low} {_past(verb, did)} {middle}")]
            variants.append(_clean(f"{subject}: {lead} {did} {_pronoun(subject, verb)} {verb} {middle}"))
        else:
            variants += [_clean(f"{lead} {verb} {low} {middle}"), _clean(f"do you know {lead} {low} {verb} {middle}")]
            variants.append(_clean(f"{subject}: {lead} {verb} {_pronoun(subject, verb)} {middle}"))
    else:  # the value is the subject ("In 2014, Orrivale was founded in Tallinn."): ask for it by its predicate
        before = sentence[: span[0]].strip()
        after = sentence[span[1] :].strip().rstrip(".!")
        predicate = after.split(",")[0].split()[:MAX_MIDDLE_WORDS]
        if (
            (before and not before.endswith(","))
            or not predicate
            or not (_AUX.fullmatch(predicate[0]) or _plain_verb(" " + predicate[0], " " + " ".join(predicate)))
        ):
            return ()  # not the subject of a clause the rules can read
        variants.append(_clean(f"{before} {'who or what' if kind == 'name' else wh} {' '.join(predicate)}"))
    if variants and title:
        variants.append(f"According to {title}, {variants[0][0].lower()}{variants[0][1:]}")
    kept = [v for v in dict.fromkeys(variants) if not is_echo(v, sentence, answer) and answer.lower() not in v.lower()]
    return tuple(kept)


def reverse_questions(sentence: str, span: tuple[int, int], title: str) -> tuple[tuple[str, ...], str]:
    """(questions giving the value at `span` and asking what it belongs to, their answer: the subject).

    "What was founded in 2017?" for "Orrivale was founded in 2017 in Tampere." — answered "Orrivale".
    Empty when the sentence has no subject before the value to ask for.
    """
    sentence, span = without_asides(sentence, span)
    answer = sentence[span[0] : span[1]]
    clause = _clause(sentence, span[0])
    if clause is None:
        return (), ""
    subject, verb, middle, did = clause
    predicate = _past(verb, did) if did else verb
    core = _clean(f"what {predicate} {middle} {answer}")
    variants = [core, f"According to {title}, {core[0].lower()}{core[1:]}"] if title else [core]
    kept = (v for v in variants if not is_echo(v, sentence, answer) and subject.lower() not in v.lower())  # "According to X" asking for X
    return tuple(dict.fromkeys(kept)), subject


def without_asides(sentence: str, span: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """`sentence` without its bracketed asides ("Receipts (originals, not copies) go ..."), `span` moved
    with it; unchanged when the value itself is inside one (the aside is then what is asked about)."""
    kept, moved, at = [], span, 0
    for match in _ASIDE.finditer(sentence):
        if match.start() < span[1] and span[0] < match.end():
            return sentence, span
        kept.append(sentence[at : match.start()])
        if match.end() <= span[0]:
            moved = (moved[0] - (match.end() - match.start()), moved[1] - (match.end() - match.start()))
        at = match.end()
    return "".join(kept) + sentence[at:], moved


def _clause(sentence: str, before: int) -> tuple[str, str, str, str] | None:
    """(subject, verb, middle, do-support) of the words before the value at `before`.

    With an auxiliary ("was founded in"): (subject, aux, words up to the value, ""); with a plain verb
    ("began in"): (subject, its base form, words up to the value, "did"/"does"). None for a subject
    too long, or punctuation between the verb and the value (another clause, an aside: the rules cannot split it).
    A leading phrase before a comma ("In 1971, OPEC issued ...") is not part of the subject.
    """
    head = sentence[:before]
    aux = _AUX.search(head)
    verb = _plain_verb(head, sentence)
    if aux is not None and (verb is None or aux.start() <= verb.start()):
        subject, word, middle, did = head[: aux.start()].strip(), aux.group(), head[aux.end() :], ""
    elif verb is not None:
        subject, middle = head[: verb.start()].strip(), head[verb.end() :]
        word, did = _base_form(verb.group())
    else:
        return None
    if "," in subject:  # "By the end of the embargo, the price of oil had risen to ...": the subject follows the comma
        subject = subject.rsplit(",", 1)[1]
    subject = _TRAILING_ADVERBS.sub("", subject.strip().strip("\"'“”‘’").strip())  # "Jacksonville also suffered"
    if not _is_subject(subject):
        return None
    if any(c in middle or c in subject for c in ",()[];"):  # another clause ("rose to office, and Thoreau's ..."), an aside
        return None
    if re.search(r"\b(?:and|or|nor|but)\s*$", middle):
        return None  # the value is one item of a list ("South Africa in the 1980s and Darfur"): no question asks for it alone
    if _describes_the_value(middle):
        return None  # "alumni include astronomers Carl Sagan": the question would end on a noun ("... include astronomers?")
    return subject, word, _DETERMINER_END.sub("", _trim(middle)), did


def _describes_the_value(middle: str) -> bool:
    """Whether the last word before the value is a plain noun or adjective describing it: not a preposition,
    a particle, a determiner or a participle."""
    words = middle.split()
    if not words or not words[-1].islower() or _DETERMINER_END.search(words[-1]):
        return False  # "by the [Alter Rhein]": the value's own determiner
    for word in reversed(words[-4:]):  # "is the recently renovated [X]": a determiner opens the value's noun phrase
        if word.lower() in ("the", "a", "an", "its", "their", "his", "her", "our"):
            return True
        if (
            _PREP_END.search(word)
            or word in _PARTICLES
            or word in ("as", "of", "than", "like", "into", "onto", "via")
            or _AUX.fullmatch(word)
        ):
            break
    word = words[-1]
    if _PREP_END.search(word) or word in _PARTICLES or word in _LOWER_FIRST or word in _IRREGULAR or _AUX.fullmatch(word):
        return False
    return not word.endswith(("ed", "en", "ing", "ly")) and word not in (
        "as",
        "of",
        "than",
        "like",
        "into",
        "onto",
        "via",
        "named",
        "called",
    )


def _is_subject(subject: str) -> bool:
    """Whether `subject` can be a clause's subject: a few words, not a pronoun, a subordinate clause or a relative one."""
    words = subject.lower().split()
    if not words or len(words) > 10 or _PREP_END.match(words[0] + " ") or words[0] in _NOT_SUBJECT_FIRST:
        return False
    if len(words) == 1 and words[0] in _LOWER_FIRST:
        return False  # "The combined effect": the verb found was an adjective
    return subject.lower() not in _PRONOUNS and not {"that", "which", "who"} & set(words)


def _pronoun(subject: str, verb: str) -> str:
    """ "they" for a plural subject ("Laptops are"), else "it"."""
    first = subject.split()[0]
    return "they" if verb in ("are", "were", "have") or (first.endswith("s") and first[1:].islower() and not first.endswith("ss")) else "it"


def _plain_verb(head: str, text: str = "") -> re.Match[str] | None:
    """The first past-tense or third-person verb in `head`, the start of `text` (default: `head`) (a guess: no tagger here)."""
    text = text or head
    for match in re.finditer(r"(?<=\s)[a-z]+\b", head):
        word = match.group()
        if word in _IRREGULAR or (len(word) > 4 and word.endswith("ed")):
            return match
        previous, following = head[: match.start()].split()[-1:], text[match.end() :].split()[:1]
        noun_like = bool(previous) and previous[0].lower() not in _LOWER_FIRST  # not "the nations"
        object_like = bool(following) and following[0].lower() not in _NOT_AFTER_VERB  # not "nations and Japan"
        plural = word.endswith(("ss", "us", "is")) or word in _NOT_VERBS
        if noun_like and object_like and len(word) > 3 and word.endswith("s") and not plural:
            return match
        if word in _BASE_VERBS and previous and (previous[0].lower().endswith("s") or previous[0].lower() in ("they", "we", "you")):
            return match
    return None


def _base_form(verb: str) -> tuple[str, str]:
    """(base form, "did", "does" or "do") of a past or present-tense verb: "began" -> ("begin", "did")."""
    if verb in _BASE_VERBS:
        return verb, "do"
    if verb in _IRREGULAR:
        return _IRREGULAR[verb], "did"
    if verb.endswith("ied"):
        return verb[:-3] + "y", "did"
    if verb.endswith("ed"):
        stem = verb[:-2]
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "ls":
            return stem[:-1], "did"  # "stopped" -> "stop"
        return (stem + "e" if stem.endswith(_E_ENDINGS) else stem), "did"
    if verb.endswith("ies"):
        return verb[:-3] + "y", "does"
    return (verb[:-2] if verb.endswith(("ches", "shes", "sses", "xes")) else verb[:-1]), "does"


def _past(base: str, did: str) -> str:
    """The verb as the sentence had it, for an indirect question: "begin" + "did" -> "began" (a guess for regular verbs)."""
    if did == "do":
        return base
    if did == "does":
        return base + ("es" if base.endswith(("ch", "sh", "ss", "x")) else "s")
    irregular = {v: k for k, v in _IRREGULAR.items()}
    if base in irregular:
        return irregular[base]
    return base + ("d" if base.endswith("e") else "ed")


def _trim(words: str) -> str:
    """At most MAX_MIDDLE_WORDS words of `words`, the last ones (those nearest the value name its attribute)."""
    split = words.split()
    return " ".join(split[-MAX_MIDDLE_WORDS:])


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _lower_subject(subject: str, lowered: set[str]) -> str:
    """`subject` moved after its verb: a determiner or a common word ("Laptops") loses its capital, a name keeps it."""
    first = subject.split(" ", 1)[0]
    plural = first.endswith("s") and not first.endswith("ss") and first[1:].islower()  # "Claims": a common noun, not a name
    if first.lower() in _LOWER_FIRST or first.lower() in lowered or plural or first in ("How", "What", "In", "Under", "Within", "Every"):
        return subject[0].lower() + subject[1:]
    return subject


def _clean(question: str) -> str:
    question = re.sub(r"\s+", " ", question).strip().rstrip(",;:. ")
    question = re.sub(r"\s+([,;:])", r"\1", question)
    return question[0].upper() + question[1:] + "?"
