"""Continued-pretraining text for knowledge injection: each chunk raw, and rewritten in another style.

Question/answer pairs alone teach little new knowledge (Abonizio et al. 2025: repeated QA stayed
at 7-14% while 4 rewrites per document reached 36%); the model must also read the facts as text,
in more than one wording, with the entity named in every sentence (Allen-Zhu & Li, Physics of
LMs 3.1). So every chunk is trained on as it is and in at least one rewrite:
- "encyclopedic": every prose sentence of the chunk, decontextualized (pronouns resolved, the
  document's subject named), one per line under the document title;
- "conversation": the chunk's facts as a question/answer dialogue;
- "model": the generator's own rewrite (with `synthesis = "model"`), kept only if every number it
  states is one the chunk states and it is not a fragment; a rejected rewrite falls back to the rules.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ragft.models.base import DecodingSettings, Generator
from ragft.synth.rules import _sentences, decontextualize, named, readable_title
from ragft.synth.types import Fact, Passage
from ragft.types import ChatMessage, Chunk

RULE_STYLES = ("encyclopedic", "conversation")
REWRITE_SYSTEM = (
    "You rewrite a passage of a document as a short encyclopedia entry. Keep every fact, number, name and date "
    "exactly; add nothing. Name the subject in every sentence instead of writing 'it', 'they' or 'this'."
)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def chunk_passages(
    chunk: Chunk,
    facts: Sequence[Fact],
    *,
    rewrites: int,
    raw: bool = True,
    generator: Generator | None = None,
    decoding: DecodingSettings | None = None,
    rejected: Counter[str] | None = None,
) -> list[Passage]:
    """The raw chunk (if `raw`) and `rewrites` rewrites of it in different styles (the model's first, when given)."""
    rejected = rejected if rejected is not None else Counter()
    out = [Passage(chunk.chunk_id, chunk.doc_id, "raw", chunk.text.strip())] if raw and chunk.text.strip() else []
    styles: list[Passage] = []
    if generator is not None and rewrites > 0:
        text = rewrite_with_model(generator, chunk, decoding or DecodingSettings(max_new_tokens=384), rejected)
        if text:
            styles.append(Passage(chunk.chunk_id, chunk.doc_id, "model", text))
    for style in RULE_STYLES:
        if len(styles) >= rewrites:
            break
        text = encyclopedic(chunk) if style == "encyclopedic" else conversation(chunk, facts)
        if text and all(text != p.text for p in (*out, *styles)):
            styles.append(Passage(chunk.chunk_id, chunk.doc_id, style, text))
    return out + styles


def encyclopedic(chunk: Chunk) -> str:
    """Every prose sentence of `chunk`, decontextualized, one per line under the document title."""
    lines, subject, title = [], "", readable_title(chunk.title)
    for _, _, sentence in _sentences(chunk.text):
        resolved, subject = decontextualize(sentence, title, subject)
        lines.append(named(resolved, title))
    if not lines:
        return ""
    return (f"{title}\n" if title else "") + "\n".join(lines)


def conversation(chunk: Chunk, facts: Sequence[Fact]) -> str:
    """The facts of `chunk` as a dialogue: each fact's first question, then its answer (value first)."""
    turns = [f"Q: {f.questions[0]}\nA: {f.answer_text()}" for f in facts if f.chunk_id == chunk.chunk_id and f.questions]
    return "\n".join(turns)


def rewrite_with_model(generator: Generator, chunk: Chunk, decoding: DecodingSettings, rejected: Counter[str]) -> str:
    """The generator's encyclopedic rewrite of `chunk`, or "" (the reason counted) if it is not faithful."""
    messages: list[ChatMessage] = [
        {"role": "system", "content": REWRITE_SYSTEM},
        {"role": "user", "content": f"Document: {chunk.title}\nPassage:\n<<<\n{chunk.text.strip()}\n>>>\n\nRewrite:"},
    ]
    try:
        text = generator.generate(messages, decoding).text.strip()
    except Exception as exc:
        rejected[f"generation_error:{type(exc).__name__}"] += 1
        return ""
    if len(text) < 0.3 * len(chunk.text.strip()):
        rejected["rewrite_too_short"] += 1
        return ""
    if set(_NUMBER.findall(text)) - set(_NUMBER.findall(chunk.text)):
        rejected["rewrite_unsupported_number"] += 1
        return ""
    return text
