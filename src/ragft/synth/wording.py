"""How probes reword a question: synonyms a user would type, everyday words for the documents'
jargon, typos, and an invented entity for out-of-scope questions that must be refused.

`ragft.synth.probes` picks the facts; this module only changes the words of a question about them.
"""

from __future__ import annotations

import random
import re

from ragft.synth.doc_text import WORD

SYNONYMS = {
    "maximum": "highest",
    "minimum": "lowest",
    "must": "has to",
    "within": "inside of",
    "employees": "staff",
    "employee": "staff member",
    "submit": "hand in",
    "price": "cost",
    "cost": "price",
    "limit": "cap",
    "allowed": "permitted",
    "required": "needed",
    "receive": "get",
    "purchase": "buy",
    "approved": "signed off",
    "customers": "clients",
    "customer": "client",
    "annual": "yearly",
    "each": "every",
    "after": "following",
    "before": "prior to",
    "starts": "begins",
    "start": "begin",
    "list": "catalogue",
    "total": "overall",
    "daily": "per-day",
    "number": "count",
    "days": "days'",
    "provides": "offers",
    "includes": "covers",
}
USER_WORDS = {
    "employees": ["staffers", "folks"],
    "employee": ["staffer"],
    "manager": ["boss"],
    "salary": ["paycheck"],
    "expense": ["out-of-pocket spend"],
    "claim": ["reimbursement ask"],
    "meeting": ["sync-up", "huddle"],
    "incident": ["outage thingy"],
    "logger": ["temp sensor gizmo"],
    "price": ["sticker price"],
    "warranty": ["guarantee period"],
    "leave": ["vacation time"],
    "office": ["workplace hub"],
    "customer": ["buyer org"],
    "policy": ["rulebook"],
    "release": ["ship date"],
    "password": ["passphrase"],
    "travel": ["business trips"],
    "hotel": ["lodging"],
    "gateway": ["hub box"],
}
CALENDAR = frozenset(
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June "
    "July August September October November December".split()
)
INVENTED = ("Quillmere", "Vantorra", "Brisklow", "Ostermoor", "Halvenby", "Carrowdale", "Fennick", "Z9")


def frame_body(question: str) -> tuple[str, str]:
    """Split 'According to the X, body?' into ('According to the X, ', 'body')."""
    match = re.match(r"((?:According to|In) the [^,]+, )(.*)\?$", question)
    return (match.group(1), match.group(2)) if match else ("", question.rstrip("?"))


def substitute(text: str, table: dict[str, list[str]] | dict[str, str], corpus: set[str] | None) -> tuple[str, list[str]]:
    """Replace table words in `text`; with `corpus`, only by words that never occur in it."""
    used = []

    def swap(match: re.Match[str]) -> str:
        word = match.group()
        options = table.get(word.lower())
        if options is None:
            return word
        for option in [options] if isinstance(options, str) else options:
            if corpus is None or not set(option.lower().split()) & corpus:
                used.append(option)
                return option
        return word

    return WORD.sub(swap, text), used


def typo(text: str, rng: random.Random) -> str:
    words = text.lower().replace(",", "").split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    for i in rng.sample(long_words, min(2, len(long_words))):
        w, j = words[i], rng.randrange(1, len(words[i]) - 2)
        words[i] = rng.choice([w[:j] + w[j + 1] + w[j] + w[j + 2 :], w[:j] + w[j + 1 :], w[:j] + w[j] + w[j:]])
    return " ".join(words)


def out_of_scope(frame: str, body: str, corpus: set[str]) -> tuple[str, str | None]:
    """The question about an invented entity in place of a real one; the entity must occur nowhere."""
    names = [m for m in re.finditer(r"\b(?:[A-Z]+-?\d+|[A-Z][a-z]+)\b", body) if m.start() > 0 and m.group() not in CALENDAR]
    names.sort(key=lambda m: not any(ch.isdigit() for ch in m.group()))  # product codes first
    for match in names[:1]:
        start = sum(map(ord, body)) % len(INVENTED)  # vary the invented name, deterministically
        for invented in INVENTED[start:] + INVENTED[:start]:
            if invented.lower() not in corpus:
                return f"{frame}{body[: match.start()]}{invented}{body[match.end() :]}?\x00{invented}", None
    return "", "no named thing to swap for an invented one"
