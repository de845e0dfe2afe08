"""Serving under load: N concurrent clients asking back to back against a real `ragft serve` process.

Run:
  python benchmarks/bench_serve.py                      # tiny test model, 50 clients, 60 s
  python benchmarks/bench_serve.py --real --clients 4   # the default model (must be downloaded)

Each client has its own key and the rate limit is lifted, so only the bounded queue (default 8)
pushes back: a full queue answers 503 + Retry-After and the client retries after 0.1 s. Reports
answers per second, p50/p95 latency of answered requests, status counts, and whether every
answer is in the audit log and the log verifies. Results merge into benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the server launcher and load clients are shared with tests/test_serve_load.py

from ragft.serve.audit import AuditLog  # noqa: E402 - after the sys.path insert above
from ragft.serve.users import UserRegistry  # noqa: E402 - after the sys.path insert above
from ragft.workspace import Workspace  # noqa: E402 - after the sys.path insert above
from tests.serve_fixtures import run_load, start_server, stop, tiny_workspace  # noqa: E402 - after the sys.path insert above

RESULTS = ROOT / "benchmarks" / "results" / "serve.json"
DOCS = {
    "spec.md": "# Gizmo Spec\n\nThe battery lasts 11 hours. The warranty is 3 years.\n",
    "travel.md": "# Travel\n\nEconomy class for flights under 6 hours. Hotel cap is 180 EUR per night.\n",
    "notes.txt": "Team notes\n\nThe launch moved to 3 March.\n",
}


def make_workspace(tmp: Path, *, real: bool) -> Path:
    docs = tmp / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    if real:  # the workspace defaults: the default generator and embedder
        from typer.testing import CliRunner

        from ragft.cli import app

        root = tmp / "ws"
        runner = CliRunner()
        assert runner.invoke(app, ["init", str(root)]).exit_code == 0
        assert runner.invoke(app, ["ingest", str(docs), "-w", str(root)]).exit_code == 0
        return root
    from ragft.models.testing import make_tiny_gguf, make_tiny_hf_model

    gguf = make_tiny_gguf(make_tiny_hf_model(tmp / "hf"), tmp / "tiny.gguf")
    return tiny_workspace(tmp / "ws", docs, gguf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--real", action="store_true", help="the default model instead of the tiny test model")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp), real=args.real)
        users = UserRegistry(Workspace.open(ws))
        keys = [users.add(f"client{i}", ["staff"]) for i in range(args.clients)]
        users.close()
        proc, base = start_server(ws, startup_timeout_s=600, rate_limit_per_min=1_000_000)
        try:
            result = run_load(base, keys, duration_s=args.duration_s)
        finally:
            stop(proc)
        log = AuditLog(Workspace.open(ws))
        verified = log.verify()
        log.close()

    summary = result.summary()
    statuses = result.statuses()
    summary.update(
        {
            "model": "default" if args.real else "tiny test GGUF (2 layers, random weights, max_new_tokens 6)",
            "queue_size": 8,
            "audit_entries": verified.entries,
            "audit_verifies": verified.ok,
            "every_answer_audited": verified.entries == statuses.get(200, 0),
            "unexpected_statuses": {str(k): v for k, v in statuses.items() if k not in (200, 503)},
            "all_503_have_retry_after": all(h for s, _, h in result.replies if s == 503),
            "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        }
    )
    print(json.dumps(summary, indent=2))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["real" if args.real else "tiny"] = summary
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
