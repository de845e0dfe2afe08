"""Shared fixtures: small documents of every supported format, made in the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest_plugins = (
    "tests.store_backends",  # the `backend` fixture: SQLite and PostgreSQL
    "tests.finetune_fixtures",  # `trained`: a tiny workspace with both adapters (module-scoped)
)

HTML_PAGE = """<!doctype html><html><head><title>Widget FAQ</title>
<script>var tracking = "do not index me";</script><style>body{color:red}</style></head>
<body><nav><a href="/">Home</a> | <a href="/shop">Shop</a></nav>
<header>Site header boilerplate</header>
<main><h1>Widget FAQ</h1><p>The <b>Widget Pro</b> weighs 1.2 kg.</p>
<p>Support hours are 9:00 to 17:00 CET.</p>
<table><tr><th>Tier</th><th>Price</th></tr><tr><td>Basic</td><td>$10</td></tr></table></main>
<footer>Copyright footer boilerplate</footer></body></html>"""


def make_pdf(path: Path, pages: list[str], title: str = "") -> None:
    """A real text PDF, one string per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    if title:
        pdf.setTitle(title)
    for text in pages:
        y = 800
        for line in text.split("\n"):
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()


def make_docx(path: Path, heading: str, paragraphs: list[str], table: list[list[str]] | None = None) -> None:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.save(str(path))


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """A folder with one good document of each supported format."""
    root = tmp_path / "docs"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "travel.md").write_text(
        "---\ntitle: Travel Policy\n---\n# Travel\n\nEconomy class for flights under 6 hours.\n\n"
        "## Hotels\n\nHotel cap is 180 EUR per night.\n"
    )
    (root / "salaries.md").write_text("---\ntitle: Salary Bands\nacl: hr, legal\n---\n# Salary Bands\n\nBand L3 pays 70,000 EUR.\n")
    (root / "notes.txt").write_text("Team notes\n\nThe launch moved to 3 March.\n")
    (root / "faq.html").write_text(HTML_PAGE)
    make_pdf(root / "spec.pdf", ["Gizmo spec page one.\nBattery lasts 11 hours.", "Page two.\nWarranty is 3 years."], title="Gizmo Spec")
    make_docx(
        root / "minutes.docx",
        "Board Minutes",
        ["Budget approved: 2.5M EUR.", "Next meeting on 12 May."],
        [["Owner", "Task"], ["Ada", "Hiring"]],
    )
    (root / "extra.jsonl").write_text(
        json.dumps({"doc_id": "kb-1", "title": "KB one", "text": "Reset the router by holding the button for 10 seconds."})
        + "\n"
        + json.dumps({"doc_id": "kb-2", "title": "KB two", "text": "The admin password expires every 90 days."})
        + "\n"
    )
    return root


def set_setting(ws: Path, key: str, value: str) -> None:
    """Rewrite `key = ...` in ws/ragft.toml; `value` is TOML text (e.g. '"fp32"', '3', '[1, 2]')."""
    import tomllib

    from ragft.workspace import Workspace

    Workspace.open(ws).with_settings({key: tomllib.loads(f"v = {value}")["v"]})


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Qwen2 as a GGUF: real llama.cpp plumbing, gibberish answers."""
    from ragft.models.testing import make_tiny_gguf, make_tiny_hf_model

    root = tmp_path_factory.mktemp("tiny")
    return make_tiny_gguf(make_tiny_hf_model(root / "hf"), root / "tiny.gguf")


@pytest.fixture
def tiny_ws(tmp_path: Path, mixed_folder: Path, tiny_gguf: Path) -> Path:
    """A workspace with `mixed_folder` ingested, the tiny GGUF as generator and the hashing embedder."""
    from ragft.corpus.ingest import ingest
    from ragft.workspace import Workspace

    root = tmp_path / "ws"
    Workspace.init(root)
    set_setting(root, "embedder", '"hashing"')
    set_setting(root, "generator", f'"{tiny_gguf}"')
    set_setting(root, "max_new_tokens", "8")
    ingest(Workspace.open(root).store, [mixed_folder], max_file_mb=50)
    return root


def ragft(*args: str):
    """Run the ragft CLI in-process (exceptions propagate, so a traceback fails the test loudly)."""
    from typer.testing import CliRunner

    from ragft.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@contextmanager
def ingest_paused_at_commit(folder: Path, ws: Path) -> Iterator[subprocess.Popen[str]]:
    """A `ragft ingest` subprocess held inside its commit transaction (RAGFT_TEST_COMMIT_PAUSE_S), for
    the crash tests to kill there; it is killed and reaped on exit whatever the test did."""
    env = {**os.environ, "RAGFT_TEST_COMMIT_PAUSE_S": "60"}
    command = [sys.executable, "-m", "ragft", "ingest", str(folder), "-w", str(ws)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        assert proc.stdout is not None
        if not any("commit paused" in line for line in proc.stdout):
            pytest.fail("the ingest never reached its commit")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.fixture
def ws(tiny_ws: Path) -> Path:
    """A workspace on tiny models with the mixed folder ingested (modules may define their own `ws`)."""
    return tiny_ws
