"""The store backends the store and audit suites run against: embedded SQLite and a real PostgreSQL.

PostgreSQL needs RAGFT_TEST_POSTGRES_URL (`.ci/run` starts a server on loopback and sets it, and
fails if it cannot; locally `tools/postgres-test.sh start DIR` prints one). Each test gets its own
PostgreSQL schema (the URL's search_path), dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from ragft.serve.db import serve_db_path
from ragft.workspace import STORE_URL_ENV, Workspace

POSTGRES_URL_ENV = "RAGFT_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")
NO_POSTGRES = f"{POSTGRES_URL_ENV} is not set: no PostgreSQL to test against (.ci/run starts one; locally: tools/postgres-test.sh)"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def schema_url(base: str, schema: str) -> str:
    """`base` with `schema` as its search_path (a libpq `options` parameter)."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


def fresh_schema_url() -> Iterator[str]:
    """A URL whose tables land in a new, empty schema, dropped when the generator is closed."""
    import psycopg

    base = postgres_url()
    if base is None:
        pytest.skip(NO_POSTGRES)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every workspace this test opens uses the given backend (PostgreSQL through RAGFT_STORE_URL)."""
    if request.param == "sqlite":
        monkeypatch.delenv(STORE_URL_ENV, raising=False)
        yield "sqlite"
        return
    urls = fresh_schema_url()
    monkeypatch.setenv(STORE_URL_ENV, next(urls))
    yield "postgresql"
    urls.close()


def run_sql(ws: Workspace, script: str) -> None:
    """Run `script` (statements separated by ';') on the workspace's serving database, as someone with SQL access would."""
    if not ws.shared_store:
        db = sqlite3.connect(serve_db_path(ws))
        db.executescript(script)
        db.commit()
        db.close()
        return
    import psycopg

    with psycopg.connect(ws.store_url, autocommit=True) as db:
        db.execute(script.replace(" user ", ' "user" '))
