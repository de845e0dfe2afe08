"""`ragft users`, `ragft serve` (a real uvicorn process on loopback) and `ragft audit` as a user runs them."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ragft.cli import app

runner = CliRunner()


def ragft(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ws(tiny_ws: Path) -> Path:
    return tiny_ws


def test_users_add_list_remove(ws: Path) -> None:
    added = ragft("users", "add", "ann", "--group", "hr", "-w", str(ws))
    assert added.exit_code == 0 and re.search(r"rk_\w+", added.output)
    assert "ann" in ragft("users", "list", "-w", str(ws)).output
    assert ragft("users", "remove", "ann", "-w", str(ws)).exit_code == 0
    assert "revoked" in ragft("users", "list", "-w", str(ws)).output


def test_serve_answers_over_http_and_every_answer_is_audited(ws: Path) -> None:
    key = re.search(r"rk_\S+", ragft("users", "add", "bob", "-w", str(ws)).output).group(0)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ragft", "serve", "-w", str(ws), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        headers = {"Authorization": f"Bearer {key}"}
        reply = httpx.post(f"{base}/v1/ask", json={"question": "How long does the battery last?"}, headers=headers, timeout=60)
        assert reply.status_code == 200, reply.text
        assert {"answer", "citations", "refused", "timings"} <= set(reply.json())
        assert httpx.post(f"{base}/v1/ask", json={"question": "x"}, timeout=10).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
    verify = ragft("audit", "verify", "-w", str(ws))
    assert verify.exit_code == 0 and "1 entries" in verify.output
    assert "bob" in ragft("audit", "show", "-w", str(ws)).output
