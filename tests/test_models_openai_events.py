"""Decoding what an OpenAI-compatible server streams back (models.openai_events), on the wire format itself."""

from __future__ import annotations

import json
import math

import pytest

from ragft.models.base import ModelError
from ragft.models.openai_events import DONE, StreamedReply, prompt_logprobs, read_chat_stream, sse_events


def _event(piece: str | None = None, finish: str | None = None, **extra: object) -> str:
    delta = {"content": piece} if piece is not None else {}
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}]})


def test_events_are_split_on_blank_lines_and_comments_and_other_fields_are_skipped() -> None:
    lines = [": keep-alive", "event: message", 'data: {"a":', "data: 1}", "", "id: 7", "", 'data: {"b": 2}', "", "data: [DONE]", ""]
    assert list(sse_events(iter(lines))) == [{"a": 1}, {"b": 2}, DONE]


def test_nothing_after_done_is_read() -> None:
    events = list(sse_events(iter(["data: [DONE]", "", "data: not json at all", ""])))
    assert events == [DONE] and events[0] is DONE


def test_a_last_event_without_its_blank_line_still_counts() -> None:
    assert list(sse_events(iter(['data: {"c": 3}']))) == [{"c": 3}]


def test_an_error_event_mid_stream_and_a_payload_that_is_not_json_raise_saying_what_came() -> None:
    with pytest.raises(ModelError, match="reported an error mid-stream: overloaded"):
        list(sse_events(iter(['data: {"error": "overloaded"}', ""])))
    with pytest.raises(ModelError, match=r"not JSON: '<html>'"):
        list(sse_events(iter(["data: <html>", ""])))


def test_a_chat_stream_gathers_pieces_usage_finish_reason_and_the_first_tokens_candidates() -> None:
    top = [{"token": "No", "logprob": math.log(0.25)}, {"token": "Yes", "logprob": math.log(0.75)}]
    lines = [
        _event("Yes", logprobs={"content": [{"token": "Yes", "logprob": math.log(0.75), "top_logprobs": top}]}),
        "",
        _event(", 14 days"),
        "",
        _event(finish="stop"),
        "",
        'data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}',
        "",
    ]
    seen: list[str] = []
    reply = read_chat_stream(iter(lines), StreamedReply(), seen.append)
    assert seen == reply.pieces == ["Yes", ", 14 days"]
    assert [t for t, _ in reply.first_token_top] == ["Yes", "No"], "most probable first"
    assert [p for _, p in reply.first_token_top] == pytest.approx([0.75, 0.25])
    assert (reply.finish_reason, reply.usage["completion_tokens"], reply.complete, reply.done) == ("stop", 3, True, False)
    assert reply.first_token_at is not None


def test_a_stream_cut_off_before_its_finish_reason_is_not_complete() -> None:
    reply = read_chat_stream(iter([_event("The refund"), ""]), StreamedReply())
    assert reply.pieces == ["The refund"] and not reply.complete


def test_prompt_logprobs_leave_out_the_first_token_and_what_the_server_generated_after_the_prompt() -> None:
    echoed = {"tokens": ["Re", "funds", " take", " 14", " days", "."], "text_offset": [0, 2, 7, 12, 15, 20]}
    body = {"choices": [{"logprobs": {**echoed, "token_logprobs": [None, -1.0, -2.0, -3.0, -4.0, -9.0]}}], "usage": {"prompt_tokens": 5}}
    assert prompt_logprobs(body, prompt_chars=20) == (-1.0, -2.0, -3.0, -4.0), "by text offset: '.' starts where the prompt ends"
    del body["choices"][0]["logprobs"]["text_offset"]
    assert prompt_logprobs(body, prompt_chars=20) == (-1.0, -2.0, -3.0, -4.0), "without offsets, by usage.prompt_tokens"
    with pytest.raises(ValueError, match="no choices"):
        prompt_logprobs({"choices": [{"text": "Refunds"}]})
