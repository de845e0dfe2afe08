"""The team store: ingest and audit-append throughput into PostgreSQL beside the embedded SQLite.

Run: python benchmarks/bench_team.py --postgres-url postgresql://...   (or set RAGFT_TEST_POSTGRES_URL;
tools/postgres-test.sh start DIR prints one). Prints a table, writes benchmarks/results/team.json.
Each figure is the best of --repeats fresh runs: the ingest of the COVID-QA papers (98 long
documents, one transaction), and N audit entries appended by 1 and by 4 processes at once (the
chain's lock serialises them: the 4-process rate shows what replicas pay for a fork-free chain).
With --load-s S > 0 it also runs --clients clients for S seconds against one `ragft serve` and then
against two replicas on the same PostgreSQL (the tiny test model), and checks the audit chain.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # machine_info is shared with the other benchmarks

from benchmarks.bench_engines import machine_info  # noqa: E402 - after the sys.path insert above

from ragft.corpus.ingest import ingest  # noqa: E402
from ragft.workspace import STORE_URL_ENV, Workspace  # noqa: E402
from tests.store_backends import POSTGRES_URL_ENV, schema_url  # noqa: E402

COVID = ROOT.parent / "shared" / "benchmarks" / "covid_qa" / "corpus.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "team.json"
_APPEND = """
import sys, time
from pathlib import Path
from ragft.serve.audit import AuditLog
from ragft.workspace import Workspace
log = AuditLog(Workspace.open(Path(sys.argv[1])))
log.append(user="warm", question="q", system="rag", retrieved=[], cited=[], corpus_version=1, answer_text="a", latency_s=0.0)
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(sys.argv[2])):
    log.append(user="u", question=f"q{i}", system="rag", retrieved=["d@v1#0"], cited=[], corpus_version=1, answer_text="a", latency_s=0.01)
"""


def fresh_url(base: str | None) -> str | None:
    """A URL to a new PostgreSQL schema (made here), or None for SQLite."""
    if base is None:
        return None
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    return schema_url(base, schema)


def workspace(tmp: str, url: str | None) -> Workspace:
    os.environ.pop(STORE_URL_ENV, None)
    if url is not None:
        os.environ[STORE_URL_ENV] = url
    return Workspace.init(Path(tmp) / "ws")


def ingest_rate(url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace(tmp, url)
        report = ingest(ws.store, [COVID], max_file_mb=ws.config.corpus.max_file_mb)
        assert not report.failures and report.version == 1, report.failures
        return {"documents": report.documents_seen, "seconds": round(report.elapsed_s, 3), "docs_per_s": round(report.docs_per_s, 1)}


def append_rate(url: str | None, processes: int, each: int) -> dict[str, Any]:
    """Entries per second with `processes` appending `each` at once (started together after connecting)."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace(tmp, url)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _APPEND, str(ws.root), str(each)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for _ in range(processes)
        ]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        assert [proc.wait(timeout=600) for proc in procs] == [0] * processes
        elapsed = time.perf_counter() - started
        from ragft.serve.audit import AuditLog

        log = AuditLog(ws)
        verified = log.verify()
        log.close()
        assert verified.ok and verified.entries == processes * (each + 1), verified
        return {
            "processes": processes,
            "entries": processes * each,
            "seconds": round(elapsed, 3),
            "entries_per_s": round(processes * each / elapsed, 1),
        }


def load(base_url: str, replicas: int, clients: int, duration_s: float) -> dict[str, Any]:
    """Answers/s of `clients` split over `replicas` servers on one PostgreSQL store (tiny model)."""
    import threading

    from benchmarks.bench_serve import make_workspace

    from ragft.serve.audit import AuditLog
    from ragft.serve.users import UserRegistry
    from tests.serve_fixtures import LoadResult, run_load, start_server, stop

    with tempfile.TemporaryDirectory() as tmp:
        os.environ[STORE_URL_ENV] = fresh_url(base_url) or ""
        ws = make_workspace(Path(tmp), real=False)
        users = UserRegistry(Workspace.open(ws))
        keys = [users.add(f"client{i}", ["staff"]) for i in range(clients)]
        users.close()
        servers = [start_server(ws, startup_timeout_s=600, rate_limit_per_min=1_000_000) for _ in range(replicas)]
        results: list[LoadResult] = []
        try:
            threads = [
                threading.Thread(target=lambda b=base, k=keys[i::replicas]: results.append(run_load(b, k, duration_s=duration_s)))
                for i, (_, base) in enumerate(servers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for proc, _ in servers:
                stop(proc)
        log = AuditLog(Workspace.open(ws))
        verified = log.verify()
        log.close()
    statuses: dict[str, int] = {}
    for result in results:
        for status, count in result.statuses().items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    answered = statuses.get("200", 0)
    assert verified.ok and verified.entries == answered, (verified, statuses)
    return {
        "replicas": replicas,
        "clients": clients,
        "duration_s": duration_s,
        "statuses": statuses,
        "answers_per_s": round(answered / duration_s, 2),
    }


def best(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return max(runs, key=lambda r: r[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--postgres-url", default=os.environ.get(POSTGRES_URL_ENV), help="a PostgreSQL server to measure (a schema is made per run)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="fresh runs per figure; the best is kept")
    parser.add_argument("--entries", type=int, default=200, help="audit entries per process")
    parser.add_argument("--load-s", type=float, default=0.0, help="seconds of load on one, then two replicas (0: skip)")
    parser.add_argument("--clients", type=int, default=50, help="clients for the load runs")
    args = parser.parse_args()
    if not args.postgres_url:
        parser.error(f"give --postgres-url or set {POSTGRES_URL_ENV} (tools/postgres-test.sh start DIR prints one)")
    rows = []
    for backend, base in (("sqlite", None), ("postgresql", args.postgres_url)):
        row: dict[str, Any] = {"backend": backend}
        row["ingest_covid_qa"] = best([ingest_rate(fresh_url(base)) for _ in range(args.repeats)], "docs_per_s")
        for processes in (1, 4):
            runs = [append_rate(fresh_url(base), processes, args.entries) for _ in range(args.repeats)]
            row[f"audit_append_{processes}_proc"] = best(runs, "entries_per_s")
        rows.append(row)
    replicas = [load(args.postgres_url, n, args.clients, args.load_s) for n in (1, 2)] if args.load_s > 0 else []
    for r in replicas:
        print(f"{r['replicas']} replica(s), {r['clients']} clients, {r['duration_s']} s: {r['answers_per_s']} answers/s, {r['statuses']}")
    print(f"{'backend':11} {'ingest docs/s':>14} {'append/s 1 proc':>16} {'append/s 4 procs':>17}")
    for r in rows:
        print(
            f"{r['backend']:11} {r['ingest_covid_qa']['docs_per_s']:>14} {r['audit_append_1_proc']['entries_per_s']:>16} "
            f"{r['audit_append_4_proc']['entries_per_s']:>17}"
        )
    RESULTS.write_text(
        json.dumps(
            {
                "command": f"python benchmarks/bench_team.py --repeats {args.repeats} --entries {args.entries} --load-s {args.load_s:g} "
                f"--clients {args.clients} --postgres-url <tools/postgres-test.sh>",
                "machine": machine_info(),
                "measured_at": time.strftime("%Y-%m-%d"),
                "note": "PostgreSQL 15 on the same machine over loopback TCP, fsync on; the tiny test model answers",
                "load_avg_at_end": os.getloadavg(),
                "results": rows,
                "replicas": replicas,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
