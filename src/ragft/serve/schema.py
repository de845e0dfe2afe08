"""The wire shapes of the HTTP API: request bodies and how answers and citations become JSON."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from ragft.types import Answer, Citation


class AskRequest(BaseModel):
    """Body of POST /v1/ask."""

    model_config = ConfigDict(extra="ignore")
    question: StrictStr
    system: StrictStr | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: StrictStr
    content: StrictStr | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text ones
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """Body of POST /v1/chat/completions (the OpenAI shape; sampling fields are accepted and ignored)."""

    model_config = ConfigDict(extra="ignore")
    messages: list[ChatMessageIn]
    model: StrictStr | None = None
    stream: StrictBool | None = False


def sse(data: object) -> str:
    """One server-sent event carrying `data` as JSON (or a bare string such as [DONE])."""
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def answer_json(answer: Answer, system_name: str) -> dict[str, Any]:
    return {
        "answer": answer.text,
        "citations": [citation_json(c) for c in answer.citations],
        "refused": answer.refused,
        "system": system_name,
        "timings": dict(answer.timings),
    }


def ragft_json(answer: Answer) -> dict[str, Any]:
    """The citations and facts an OpenAI-shaped reply carries in its `ragft` field."""
    return {
        "answer": answer.text,
        "citations": [citation_json(c) for c in answer.citations],
        "refused": answer.refused,
        "timings": dict(answer.timings),
    }


def citation_json(citation: Citation) -> dict[str, Any]:
    return {
        "doc_id": citation.doc_id,
        "title": citation.title,
        "start": citation.start,
        "end": citation.end,
        "page": citation.page,
        "quote": citation.quote,
    }
