"""What a question will cost before any of it is generated: its tokens, and a bound on the whole prompt.

Characters say little about cost: 2,000 CJK characters or astral symbols (emoji) are several thousand
tokens, which held the model for minutes or overflowed its context (a 500). So a question is
counted with the served generator's own tokenizer, and the prompt it leads to (instructions and
worked examples, up to the passage budget, the question, and the answer's max tokens) is bounded
against the model's context window before the request is queued.
"""

from __future__ import annotations

from ragft.models.base import Generator
from ragft.prompts import build_messages
from ragft.types import System, retrieving

CHAT_MARKUP_TOKENS = 8  # per message: role markers and separators a chat template adds
PASSAGE_HEADER_TOKENS = 24  # per passage: its "[n] title" line (titles are short)


def generator_of(system: System) -> Generator | None:
    """The generator a system answers with, when it exposes one."""
    generator = getattr(system, "generator", None)
    return generator if callable(getattr(generator, "count_tokens", None)) else None


def question_tokens(system: System, text: str) -> int:
    """Tokens of `text` under `system`'s generator; without one, its UTF-8 bytes (an upper bound for
    byte-level BPE and byte-fallback tokenizers, which never emit more tokens than bytes)."""
    generator = generator_of(system)
    if generator is None:
        return len(text.encode("utf-8"))
    try:
        return int(generator.count_tokens(text))
    except Exception:
        return len(text.encode("utf-8"))


def prompt_bound(system: System, question_tokens: int, template_cache: dict[tuple[int, bool], int] | None = None) -> tuple[int, int | None]:
    """(tokens the whole prompt and answer could take, the model's context window or None when unknown);
    `template_cache` keeps the template's count per generator between calls."""
    generator = generator_of(system)
    window = getattr(generator, "context_window_tokens", None) if generator is not None else None
    if not isinstance(window, int) or generator is None:
        return question_tokens, None
    arm = retrieving(system)
    passages = 0
    if arm is not None:
        k = int(getattr(arm, "k", 0) or 0)
        passages = int(getattr(arm, "context_budget_tokens", 0) or 0) + k * PASSAGE_HEADER_TOKENS
    answer = int(getattr(getattr(system, "decoding", None), "max_new_tokens", 0) or 0)
    cache = template_cache if template_cache is not None else {}
    key = (id(generator), arm is not None)
    if key not in cache:
        cache[key] = template_tokens(generator, rag=arm is not None)
    return question_tokens + passages + answer + cache[key], window


def template_tokens(generator: Generator, *, rag: bool) -> int:
    """Tokens of the prompt around the question (system message, worked examples, chat markup)."""
    messages = build_messages("", []) if rag else build_messages("")
    return sum(generator.count_tokens(m["content"]) + CHAT_MARKUP_TOKENS for m in messages)
