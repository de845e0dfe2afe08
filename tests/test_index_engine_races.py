"""Replicas sharing one Qdrant collection keep every version they build, under any interleaving, without a lock.

A replica is a process with its own client and lock. Here two replicas are two Retrievers in one
process whose engine views each get their own lock and their own wrapper around one local-mode client
(local mode cannot be opened by two processes); the wrapper runs another replica's whole sync, or a
crash, just before a chosen call of this one's, so each interleaving is deterministic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ragft.retrieval import RetrievalError, Retriever
from ragft.retrieval import engine as engine_module
from ragft.retrieval.engine_versions import RECORD, Build, builds_to_drop
from ragft.types import Chunk

from .test_index_engine import MEMBER, QUESTIONS, _versions, retriever


class Replica:
    """One replica's view of the shared client: calls pass through, and `before(method, n)` runs a step first."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._calls: dict[str, int] = {}
        self._steps: dict[tuple[str, int], Callable[[], object]] = {}
        self.ran: list[tuple[str, int]] = []

    def before(self, method: str, n: int, step: Callable[[], object]) -> None:
        self._steps[(method, n)] = step

    def __getattr__(self, method: str) -> Any:
        real = getattr(self._client, method)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls[method] = n = self._calls.get(method, 0) + 1
            step = self._steps.pop((method, n), None)
            if step is not None:
                self.ran.append((method, n))
                step()
            return real(*args, **kwargs)

        return call


class Replicas:
    """The replicas made so far, and the steps the next one made will run."""

    def __init__(self) -> None:
        self.made: list[Replica] = []
        self._planned: list[tuple[str, int, Callable[[], object]]] = []

    def next_runs(self, method: str, n: int, step: Callable[[], object]) -> None:
        """The next replica runs `step` just before its `n`-th call of `method`."""
        self._planned.append((method, n, step))

    def make(self, client: Any) -> Replica:
        replica = Replica(client)
        for method, n, step in self._planned:
            replica.before(method, n, step)
        self._planned.clear()
        self.made.append(replica)
        return replica


@pytest.fixture
def replicas(monkeypatch: pytest.MonkeyPatch) -> Replicas:
    """Every engine view made from now on is a new replica, with its own lock and client wrapper."""
    made = Replicas()
    shared = engine_module._client

    def replica_client(location: engine_module.EngineLocation) -> tuple[Replica, threading.Lock]:
        return made.make(shared(location)[0]), threading.Lock()

    monkeypatch.setattr(engine_module, "_client", replica_client)
    return made


def expected_hits(folder: Path, chunks: list[Chunk], version_key: str) -> Callable[[Retriever], None]:
    """A check that a retriever answers QUESTIONS exactly as the embedded index over `chunks` does."""
    embedded = retriever(folder, "embedded")
    embedded.warm_up(chunks, version_key)

    def check(engine: Retriever) -> None:
        for question in QUESTIONS:
            for user in (None, MEMBER):
                assert engine.search(question, 5, user=user) == embedded.search(question, 5, user=user), (version_key, question, user)

    return check


def assert_recorded(folder: Path, chunks: list[Chunk], version_key: str) -> None:
    """A third replica finds the version built: it uploads and embeds nothing."""
    third = retriever(folder, "qdrant")
    stats = third.warm_up(chunks, version_key)
    assert stats.loaded and third.embedder.embedded == 0, version_key  # type: ignore[attr-defined]


# The sync's steps, in order: is it built (retrieve), marker (upsert 1), chunk points (upsert 2), record (upsert 3).
STEPS = [("retrieve", 1), ("upsert", 1), ("upsert", 2), ("upsert", 3)]


@pytest.mark.parametrize(("method", "n"), STEPS)
def test_two_replicas_syncing_two_versions_at_once_both_keep_their_version(tmp_path: Path, replicas: Replicas, method: str, n: int) -> None:
    v1, v2 = _versions()
    first, second = retriever(tmp_path / "ws", "qdrant"), retriever(tmp_path / "ws", "qdrant")
    replicas.next_runs(method, n, lambda: second.warm_up(v2, "corpus-v2"))
    first.warm_up(v1, "corpus-v1")
    assert replicas.made[0].ran == [(method, n)]
    expected_hits(tmp_path / "e1", v1, "corpus-v1")(first)
    expected_hits(tmp_path / "e2", v2, "corpus-v2")(second)
    assert_recorded(tmp_path / "ws", v1, "corpus-v1")
    assert_recorded(tmp_path / "ws", v2, "corpus-v2")


def test_two_replicas_starting_on_a_new_collection_at_once_share_it(tmp_path: Path, replicas: Replicas) -> None:
    v1, v2 = _versions()
    first, second = retriever(tmp_path / "ws", "qdrant"), retriever(tmp_path / "ws", "qdrant")
    replicas.next_runs("create_collection", 1, lambda: second.warm_up(v2, "corpus-v2"))
    first.warm_up(v1, "corpus-v1")  # its create_collection finds the collection made meanwhile
    assert replicas.made[0].ran == [("create_collection", 1)]
    expected_hits(tmp_path / "e1", v1, "corpus-v1")(first)
    expected_hits(tmp_path / "e2", v2, "corpus-v2")(second)


@pytest.mark.parametrize("n", [2, 3])  # before the chunk points; after them, before the record
def test_a_sync_that_crashes_midway_is_not_trusted_and_the_next_sync_completes_it(tmp_path: Path, replicas: Replicas, n: int) -> None:
    v1, _ = _versions()

    def crash() -> None:
        raise RuntimeError("replica killed")

    crashing = retriever(tmp_path / "ws", "qdrant")
    replicas.next_runs("upsert", n, crash)
    with pytest.raises(RuntimeError, match="replica killed"):
        crashing.warm_up(v1, "corpus-v1")
    again = retriever(tmp_path / "ws", "qdrant")
    stats = again.warm_up(v1, "corpus-v1")
    assert not stats.loaded
    expected_hits(tmp_path / "e", v1, "corpus-v1")(again)
    assert_recorded(tmp_path / "ws", v1, "corpus-v1")


def test_a_version_a_replica_serves_survives_while_a_newer_one_is_still_building(tmp_path: Path, replicas: Replicas) -> None:
    v1, v2 = _versions()
    v3 = [chunk for chunk in v2 if chunk.chunk_id != "c7"]
    serving, building, other = (retriever(tmp_path / "ws", "qdrant") for _ in range(3))
    serving.warm_up(v1, "corpus-v1")
    check_v1 = expected_hits(tmp_path / "e1", v1, "corpus-v1")
    replicas.next_runs("upsert", 2, lambda: (other.warm_up(v2, "corpus-v2"), check_v1(serving)))
    building.warm_up(v3, "corpus-v3")
    assert replicas.made[1].ran == [("upsert", 2)]
    client, name = replicas.made[1]._client, "ragft"
    records, _ = client.scroll(name, limit=100, with_payload=True)
    built = {r.payload["version"] for r in records if r.payload.get("kind") == RECORD}
    assert built == {"corpus-v2", "corpus-v3"}  # v1 went once v2 and v3 were both built
    assert not [r for r in records if str(r.payload.get("build", "")).startswith("corpus-v1@")]


def test_a_version_dropped_while_a_slow_replica_indexes_it_is_never_recorded(tmp_path: Path, replicas: Replicas) -> None:
    v1, v2 = _versions()
    v3 = [chunk for chunk in v2 if chunk.chunk_id != "c7"]
    slow, fast = retriever(tmp_path / "ws", "qdrant"), retriever(tmp_path / "ws", "qdrant")
    replicas.next_runs("upsert", 3, lambda: (fast.warm_up(v2, "corpus-v2"), fast.warm_up(v3, "corpus-v3")))
    with pytest.raises(RetrievalError, match=r"corpus-v1 was dropped .* newer versions"):
        slow.warm_up(v1, "corpus-v1")
    assert not retriever(tmp_path / "ws", "qdrant").warm_up(v1, "corpus-v1").loaded


def test_collection_keeps_the_newest_built_versions_and_unfinished_ones_not_older_than_them() -> None:
    def build(number: int, built: bool, at: float = 0.0, family: str = "c-v*") -> Build:
        return Build(f"c-v{number}@{at}", f"c-v{number}", family, number, built, at)

    builds = [
        build(1, True, 1),
        build(2, True, 2),
        build(3, True, 3),
        build(0, False),
        build(2, False, 9),
        build(4, False),
        build(1, True, 1, "x"),
    ]
    assert builds_to_drop(builds, "c-v*", protected=set()) == ["c-v1@1", "c-v0@0.0"]
    assert builds_to_drop(builds, "c-v*", protected={"c-v1@1"}) == ["c-v0@0.0"]
    assert builds_to_drop(builds[:2], "c-v*", protected=set()) == []  # only two built: nothing goes
    rebuilt = [build(3, True, 3), build(3, True, 5), build(2, True, 2)]  # v3 built twice (e.g. a new embedder)
    assert builds_to_drop(rebuilt, "c-v*", protected=set()) == ["c-v2@2"]
