"""Issue 16's low findings on the serving side: times out of range, terminal escapes in `audit show`,
what /v1/documents reveals and which version it reads, revoked keys kept in view, and a client that
hangs up mid-upload."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from ragft.cli.serve import _printable
from ragft.corpus.ingest import ingest
from ragft.serve import create_app
from ragft.serve.audit import AuditLog, AuditQueryError
from ragft.serve.users import UserRegistry
from tests.conftest import ragft
from tests.serve_fixtures import Served, make_workspace, rag_system, serve, serving_in_thread

LISBON = "When does the Lisbon office open?"


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return serve(tmp_path)


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "yesterday"])
def test_a_since_outside_the_calendar_is_a_422_and_one_cli_line(served: Served, since: str) -> None:
    reply = served.client.get("/v1/audit", params={"since": since}, headers=served.auth("root"))
    assert reply.status_code == 422 and "since" in reply.json()["error"], reply.text
    with pytest.raises(AuditQueryError):
        AuditLog(served.ws).entries(since=since)
    shown = ragft("audit", "show", "--since", since, "-w", str(served.ws.root))
    assert shown.exit_code == 2 and "since" in shown.output


def test_audit_show_escapes_terminal_control_sequences_from_callers(served: Served) -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J\x1b[31m[bold]red[/bold] \u202eevil"
    served.ask("alice", hostile + " When does the Lisbon office open?")
    shown = ragft("audit", "show", "-w", str(served.ws.root))
    assert shown.exit_code == 0
    assert "\x1b" not in shown.output and "\x07" not in shown.output and "\u202e" not in shown.output
    assert "\\x1b" in shown.output  # shown as text, not obeyed
    assert _printable(hostile) == "\\x1b]0;owned\\x07\\x1b[2J\\x1b[31m[bold]red[/bold] \\u202eevil"


def test_a_document_is_read_at_the_served_version_without_the_server_path(served: Served, tmp_path: Path) -> None:
    newer = tmp_path / "docs" / "public" / "offices.md"
    newer.write_text("# Offices\n\nThe Lisbon office now opens at 7:00.\n", encoding="utf-8")
    ingest(served.ws.store, [newer.parent], max_file_mb=1)  # committed beside the server, not yet served
    body = served.client.get("/v1/documents/offices.md", headers=served.auth("alice")).json()
    assert "9:00" in body["text"] and "7:00" not in body["text"]
    assert body["source"] == "offices.md" and str(tmp_path) not in str(body)


def test_issuing_a_revoked_name_a_new_key_keeps_the_revoked_one_listed(served: Served) -> None:
    users = UserRegistry(served.ws)
    users.remove("alice")
    new_key = users.add("alice", ["sales"])
    assert [(u.name, u.revoked) for u in users.list() if u.name == "alice"] == [("alice", True), ("alice", False)]
    assert users.authenticate(new_key) is not None and users.authenticate(served.keys["alice"]) is None


def test_a_client_hanging_up_mid_upload_is_one_log_line_not_an_internal_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ws = make_workspace(tmp_path)
    users = UserRegistry(ws)
    key = users.add("root", ["admin"])
    users.close()
    app = create_app(ws, systems={"rag": rag_system(ws, tmp_path)})
    caplog.set_level(logging.INFO, logger="ragft.serve")
    with serving_in_thread(app) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as conn:  # announces 1000 bytes, sends 12, hangs up
            head = f"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: 1000\r\n\r\n"
            conn.sendall(head.encode() + b'{"paths": [')
            time.sleep(0.3)
        deadline = time.monotonic() + 10
        while not any("disconnected" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
    ours = [r for r in caplog.records if r.name == "ragft.serve"]
    assert [r.getMessage() for r in ours if "disconnected" in r.getMessage()] == [
        "client disconnected after 11 body bytes of POST /v1/ingest"
    ]
    assert not [r for r in ours if r.levelno >= logging.ERROR]  # before: "unexpected error answering POST /v1/ingest" + traceback
