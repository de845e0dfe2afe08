"""Settings of `ragft serve`: limits per request and per API key."""

from __future__ import annotations

from dataclasses import dataclass

from ragft.config.schema import Section, at_least, setting


@dataclass(frozen=True)
class ServeConfig(Section):
    """Limits of `ragft serve` per request and per API key."""

    max_concurrent_per_key: int = setting(
        2,
        range=at_least(1),
        doc="""
        Requests one API key may have waiting or running at once; more get 429 + Retry-After, so one
        busy client cannot fill the queue that every other key shares.""",
    )
    max_question_tokens: int = setting(
        512,
        range=at_least(1),
        doc="""
        Longest question, in tokens of the generator's tokenizer (characters say little: 2,000 CJK
        characters or emoji are several thousand tokens); longer ones get 413.""",
    )
