"""Load: 50 concurrent clients against a real server on the tiny model, for a bounded time.

The issue asks for 60 s; the test runs LOAD_DURATION_S (20 s) to keep the suite short, and
benchmarks/bench_serve.py runs the full 60 s and records the figures.
"""

from __future__ import annotations

from pathlib import Path

from ragft.serve.audit import AuditLog
from ragft.serve.users import UserRegistry
from ragft.workspace import Workspace
from tests.serve_fixtures import run_load, start_server, stop, tiny_workspace

LOAD_CLIENTS = 50
LOAD_DURATION_S = 20.0  # the 60 s runs in benchmarks/bench_serve.py


def test_fifty_clients_get_answers_or_503_with_retry_after_and_every_answer_is_audited(
    tmp_path: Path, mixed_folder: Path, tiny_gguf: Path
) -> None:
    ws = tiny_workspace(tmp_path / "ws", mixed_folder, tiny_gguf)
    users = UserRegistry(Workspace.open(ws))
    keys = [users.add(f"client{i}", ["staff"]) for i in range(LOAD_CLIENTS)]
    users.close()
    proc, base = start_server(ws, rate_limit_per_min=1_000_000)  # the rate limit is tested elsewhere
    try:
        result = run_load(base, keys, duration_s=LOAD_DURATION_S)
    finally:
        stop(proc)

    statuses = result.statuses()
    assert set(statuses) <= {200, 503}, statuses  # no 5xx but deliberate 503s, no dropped connections
    assert all(has_retry_after for status, _, has_retry_after in result.replies if status == 503)
    assert statuses.get(200, 0) > 0
    log = AuditLog(Workspace.open(ws))
    try:
        verified = log.verify()
        assert verified.ok, verified.reason
        assert verified.entries == statuses[200]  # every answer logged, nothing logged that was not answered
    finally:
        log.close()
