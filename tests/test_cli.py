"""The CLI as a user runs it: init, ingest with bad files, corpus log/show/diff, help, kill mid-ingest."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from typer.testing import CliRunner

from ragft.cli import app
from ragft.corpus.store import SQLiteStore
from ragft.sample import questions_path, sample_dir, write_sample
from tests.conftest import ingest_paused_at_commit

runner = CliRunner()


def ragft(*args: str, cwd: Path | None = None):
    old = Path.cwd()
    if cwd:
        os.chdir(cwd)
    try:
        return runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def test_version_and_help_on_every_command() -> None:
    assert ragft("--version").output.startswith("ragft ")
    for command in (
        [],
        ["init"],
        ["ingest"],
        ["corpus"],
        ["corpus", "log"],
        ["corpus", "show"],
        ["corpus", "diff"],
        ["sample"],
        ["demo"],
        ["ask"],
        ["index"],
        ["train"],
        ["compare"],
    ):
        result = ragft(*command, "--help")
        assert result.exit_code == 0, command
        assert "Usage" in result.output


def test_init_then_ingest_found_from_a_subfolder(tmp_path: Path, mixed_folder: Path) -> None:
    ws = tmp_path / "ws"
    assert ragft("init", str(ws)).exit_code == 0
    assert (ws / "ragft.toml").is_file() and (ws / ".ragft").is_dir()
    sub = ws / "deep" / "er"
    sub.mkdir(parents=True)
    result = ragft("ingest", str(mixed_folder), cwd=sub)
    assert result.exit_code == 0, result.output
    assert "Corpus version 1" in result.output
    assert "8 added" in result.output


def test_second_init_is_refused(tmp_path: Path) -> None:
    ragft("init", str(tmp_path))
    result = ragft("init", str(tmp_path))
    assert result.exit_code == 2 and "already a ragft workspace" in result.output


def test_commands_outside_a_workspace_say_how_to_make_one(tmp_path: Path) -> None:
    result = ragft("corpus", "log", cwd=tmp_path)
    assert result.exit_code == 2
    assert "ragft init" in result.output


def test_bad_files_get_one_line_each_and_a_failing_exit_code(tmp_path: Path, mixed_folder: Path) -> None:
    (mixed_folder / "corrupt.pdf").write_bytes(b"%PDF-1.4 garbage")
    (mixed_folder / "binary.txt").write_bytes(b"\x00\x01\x02\x03")
    (mixed_folder / "empty.md").write_bytes(b"")
    (mixed_folder / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with (mixed_folder / "huge.txt").open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    os.symlink(tmp_path / "missing", mixed_folder / "dangling.md")
    (mixed_folder / "report.xyz").write_text("?")
    ragft("init", str(tmp_path / "ws"))
    result = ragft("ingest", str(mixed_folder), "--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 1
    for expected in (
        "not a readable PDF",
        "binary content",
        "empty file",
        "not valid UTF-8",
        "too large",
        "symbolic link",
        "unsupported type",
    ):
        assert expected in result.output, expected
    assert "Corpus version 1: 8 added" in result.output, "the good files are still ingested"
    assert "Traceback" not in result.output


def test_sample_v1_then_v2_gives_two_versions_and_a_diff(tmp_path: Path) -> None:
    docs, ws = tmp_path / "docs", tmp_path / "ws"
    ragft("init", str(ws))
    write_sample(docs, 1)
    assert ragft("ingest", str(docs), "-w", str(ws)).exit_code == 0
    assert ragft("sample", str(docs), "--version", "2").exit_code == 0
    assert ragft("ingest", str(docs), "-w", str(ws)).exit_code == 0
    log = ragft("corpus", "log", "-w", str(ws))
    assert "│ 2" in log.output or " 2 " in log.output
    store = SQLiteStore(ws / ".ragft" / "store.sqlite3")
    v1 = {d.doc_id for d in store.documents(1)}
    v2 = {d.doc_id for d in store.documents(2)}
    files_v1 = {p.relative_to(sample_dir(1)).as_posix() for p in sample_dir(1).rglob("*") if p.is_file()}
    files_v2 = {p.relative_to(sample_dir(2)).as_posix() for p in sample_dir(2).rglob("*") if p.is_file()}
    assert v1 == files_v1 and v2 == files_v2
    diff = ragft("corpus", "diff", "1", "2", "-w", str(ws))
    assert diff.exit_code == 0
    for doc_id in sorted(files_v2 - files_v1):
        assert f"+ added   {doc_id}" in diff.output
    for doc_id in sorted(files_v1 - files_v2):
        assert f"- removed {doc_id}" in diff.output
    assert "~ changed" in diff.output
    show = ragft("corpus", "show", sorted(v2)[0], "-w", str(ws))
    assert show.exit_code == 0


def test_sample_questions_file_exists() -> None:
    assert questions_path().is_file()


def test_killing_an_ingest_mid_commit_leaves_the_previous_version_intact(tmp_path: Path, mixed_folder: Path) -> None:
    ws = tmp_path / "ws"
    ragft("init", str(ws))
    ragft("ingest", str(mixed_folder), "-w", str(ws))
    (mixed_folder / "notes.txt").write_text("Team notes\n\nThe launch moved to 9 April.\n")
    (mixed_folder / "later.md").write_text("# Later\n\nAdded later.\n")
    with ingest_paused_at_commit(mixed_folder, ws) as proc:
        proc.send_signal(signal.SIGKILL)
    store = SQLiteStore(ws / ".ragft" / "store.sqlite3")
    assert store.latest_version() == 1
    assert "3 March" in store.document("notes.txt").text
    assert "later.md" not in {d.doc_id for d in store.documents()}
    store.close()
    result = ragft("ingest", str(mixed_folder), "-w", str(ws))
    assert result.exit_code == 0 and "Corpus version 2" in result.output


def test_document_ids_are_never_cut_short_in_a_narrow_piped_table() -> None:
    """Issue 16: 'handbook/employee-handbo…' in the cited-passages table when piped at 80 columns."""
    import io

    from rich.console import Console
    from rich.table import Table

    from ragft.cli.answer import id_column

    doc_id = "handbook/employee-handbook-2026-edition-with-appendices.md"
    table = Table("#", id_column("document", [doc_id]), "span", "page", "passage")
    table.add_row("1", doc_id, "10-200", "", "a long passage " * 20)
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(table)
    assert doc_id in out.getvalue()
