"""`ragft users`, `ragft serve` (a real uvicorn process on loopback) and `ragft audit` as a user runs them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from .conftest import ragft
from .serve_fixtures import start_server, stop


def test_users_add_list_remove(ws: Path) -> None:
    added = ragft("users", "add", "ann", "--group", "hr", "-w", str(ws))
    assert added.exit_code == 0 and re.search(r"rk_\w+", added.output)
    assert "ann" in ragft("users", "list", "-w", str(ws)).output
    assert ragft("users", "remove", "ann", "-w", str(ws)).exit_code == 0
    assert "revoked" in ragft("users", "list", "-w", str(ws)).output


def test_serve_answers_over_http_and_every_answer_is_audited(ws: Path) -> None:
    key = re.search(r"rk_\S+", ragft("users", "add", "bob", "-w", str(ws)).output).group(0)
    server, base = start_server(ws)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        reply = httpx.post(f"{base}/v1/ask", json={"question": "How long does the battery last?"}, headers=headers, timeout=60)
        assert reply.status_code == 200, reply.text
        assert {"answer", "citations", "refused", "timings"} <= set(reply.json())
        assert httpx.post(f"{base}/v1/ask", json={"question": "x"}, timeout=10).status_code == 401
    finally:
        stop(server)
    verify = ragft("audit", "verify", "-w", str(ws))
    assert verify.exit_code == 0 and "1 entries" in verify.output
    assert "bob" in ragft("audit", "show", "-w", str(ws)).output
