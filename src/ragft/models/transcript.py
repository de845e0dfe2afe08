"""The chat layout for models without a chat template (base models such as Gemma 3 270M)."""

from __future__ import annotations

from collections.abc import Sequence

from ragft.types import ChatMessage

# A base model continues the transcript past its own turn; stop where the next turn would begin.
TRANSCRIPT_STOP = ("\nuser:",)


def plain_transcript(messages: Sequence[ChatMessage]) -> str:
    """`role: content` lines, ending with `assistant:` where the reply goes."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
