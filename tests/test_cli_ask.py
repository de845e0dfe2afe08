"""`ragft ask` as a user runs it: streamed answer, citations, trace; bad input is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ragft, set_setting


def test_ask_streams_an_answer_and_shows_the_trace(ws: Path) -> None:
    result = ragft("ask", "How long does the Gizmo battery last?", "-w", str(ws), "--trace")
    assert result.exit_code == 0, result.output
    assert "Retrieved" in result.output and "spec.pdf" in result.output
    assert "prompt" in result.output and "tokens" in result.output


def test_ask_says_when_the_streamed_answer_was_withheld_and_why(ws: Path) -> None:
    set_setting(ws, "refuse_ungrounded", "false")
    set_setting(ws, "refusal_threshold", "0.0")  # every answer the tiny model gives counts as hesitant
    result = ragft("ask", "How long does the Gizmo battery last?", "-w", str(ws))
    assert result.exit_code == 0, result.output
    assert "withheld:" in result.output and "leaned towards refusing" in result.output
    assert result.output.rstrip().endswith("I don't know based on the documents.")


def test_ask_with_the_base_system_needs_no_index(ws: Path) -> None:
    result = ragft("ask", "Hello?", "--system", "base", "-w", str(ws), "--trace")
    assert result.exit_code == 0, result.output
    assert "Retrieved" not in result.output


def test_a_question_in_another_script_gets_a_note_and_an_answer(ws: Path) -> None:
    result = ragft("ask", "电池能用多久？", "-w", str(ws))
    assert result.exit_code == 0, result.output
    assert "not in Latin script" in result.output


@pytest.mark.parametrize(("question", "message"), [("", "the question is empty"), ("x" * 20_000, "20,000 characters")])
def test_empty_and_huge_questions_exit_non_zero_with_a_reason(ws: Path, question: str, message: str) -> None:
    result = ragft("ask", question, "-w", str(ws))
    assert result.exit_code == 2 and message in result.output


def test_a_workspace_without_documents_says_to_ingest(tmp_path: Path) -> None:
    ragft("init", str(tmp_path / "empty"))
    set_setting(tmp_path / "empty", "embedder", '"hashing"')
    result = ragft("ask", "anything?", "-w", str(tmp_path / "empty"))
    assert result.exit_code == 2 and "ragft ingest" in result.output


def test_a_missing_model_file_is_a_clear_error(ws: Path, tmp_path: Path) -> None:
    set_setting(ws, "generator", f'"{tmp_path / "nope.gguf"}"')
    result = ragft("ask", "anything?", "-w", str(ws))
    assert result.exit_code == 2 and "nope.gguf" in result.output and "Traceback" not in result.output


def test_a_corrupt_model_file_is_a_clear_error(ws: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    set_setting(ws, "generator", f'"{bad}"')
    result = ragft("ask", "anything?", "-w", str(ws))
    assert result.exit_code == 2 and "bad.gguf" in result.output


def test_an_unreachable_openai_server_is_a_clear_error(ws: Path) -> None:
    set_setting(ws, "generator_backend", '"openai"')
    set_setting(ws, "generator", '"some-model"')
    set_setting(ws, "openai_base_url", '"http://127.0.0.1:9/v1"')
    set_setting(ws, "max_retries", "0")
    result = ragft("ask", "anything?", "-w", str(ws))
    assert result.exit_code == 2 and "127.0.0.1:9" in result.output
