"""The arms: every way ragft answers, described once, and the one `build()` that makes them.

An arm is a spec, not code: whether it retrieves, which trained adapter (if any) its model
carries, whether it can be served to callers outside the documents' groups, and a line saying
what it is. Everything that lists arms (the CLI's choices and help, the comparison's defaults,
the demo's training, the report's order and descriptions, the server's restricted-training
guard) reads this registry, so a new arm, e.g. a RAG variant with other settings, is one entry.

Layering: this module sits above `systems` and `train` (it builds from them) and below
`evaluate`, `report`, `serve`, `jobs` and `cli` (they read it); `systems` and `train` never
import it, which is why `train` keeps its own list of the adapters it can train
(`ragft.train.manifest.ADAPTERS`) and this registry only points at them.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ragft.config import ConfigError
from ragft.models.base import Generator
from ragft.models.factory import build_generator
from ragft.retrieval.retriever import Retriever
from ragft.systems.adapter import (
    StaleAdapterWarning,
    adapter_generator,
    adapter_info,
    training_pairs,
    training_set,
)
from ragft.systems.build import IndexedCorpus, decoding_settings, index_corpus
from ragft.systems.closed_book import ClosedBookSystem
from ragft.systems.finetuned import FineTunedSystem
from ragft.systems.rag import RagSystem
from ragft.train.manifest import ADAPTERS, AdapterError, AdapterManifest, adapter_dir
from ragft.types import System
from ragft.workspace import Workspace


@dataclass(frozen=True)
class ArmSpec:
    """What an arm is: how it answers, what it needs, and whether it may face any caller."""

    name: str
    retrieves: bool  # answers from passages retrieved per question (and per caller's groups)
    adapter: str | None  # the trained adapter its model carries: None (the plain model) or one of train's ADAPTERS
    outsider_safe: bool  # True: shows each caller only what they may see; False: its weights learned the documents
    help: str  # one line for the CLI and the report
    trained: bool = False  # has its own training run (`ragft train --arm NAME`); its adapter is its name
    default: bool = True  # compared and demoed when no arms are named
    searches_trained: str | None = None  # retrieves only the chunks this adapter was trained on (a diagnostic arm)

    @property
    def diagnostic(self) -> bool:
        """Measured beside the others to explain them (e.g. rag-parity), never a candidate to ship."""
        return self.searches_trained is not None


_SPECS = (
    ArmSpec("base", retrieves=False, adapter=None, outsider_safe=True, help="the model alone, closed-book"),
    ArmSpec("rag", retrieves=True, adapter=None, outsider_safe=True, help="retrieval + the model, answering from cited passages"),
    ArmSpec(
        "finetuned",
        retrieves=False,
        adapter="finetuned",
        outsider_safe=False,
        trained=True,
        help="the model after LoRA fine-tuning on the documents, closed-book",
    ),
    ArmSpec(
        "hybrid", retrieves=True, adapter="hybrid", outsider_safe=False, trained=True, help="the fine-tuned (RAFT) model with retrieval"
    ),
    ArmSpec(
        "finetuned+rag",
        retrieves=True,
        adapter="finetuned",
        outsider_safe=False,
        default=False,
        help="the closed-book fine-tuned adapter with retrieval added (no RAFT): what RAFT is meant to beat",
    ),
    ArmSpec(
        "rag-parity",
        retrieves=True,
        adapter=None,
        outsider_safe=True,
        default=False,
        searches_trained="finetuned",
        help="RAG over exactly the chunks the fine-tuned arm was trained on: index vs weights on the same information",
    ),
)
ARMS: dict[str, ArmSpec] = {spec.name: spec for spec in _SPECS}


def _check(specs: Iterable[ArmSpec]) -> None:
    """Registry entries must point at adapters `train` can make; a trained arm's adapter is its own name."""
    for spec in specs:
        if spec.adapter is not None and spec.adapter not in ADAPTERS:
            raise ConfigError(f"arm {spec.name!r}: adapter {spec.adapter!r} is not one train makes ({', '.join(ADAPTERS)})")
        if spec.searches_trained is not None and (spec.searches_trained not in ADAPTERS or not spec.retrieves):
            raise ConfigError(f"arm {spec.name!r}: searches_trained needs a retrieving arm and one of {', '.join(ADAPTERS)}")
        if spec.trained and spec.adapter != spec.name:
            raise ConfigError(f"arm {spec.name!r}: a trained arm's adapter must be its own name, not {spec.adapter!r}")


_check(_SPECS)


def names() -> list[str]:
    """Every arm, in registry order (the order the report shows them in)."""
    return list(ARMS)


def spec(name: str) -> ArmSpec:
    """The spec of arm `name`, or a ConfigError listing the choices."""
    try:
        return ARMS[name]
    except KeyError:
        raise ConfigError(f"unknown arm {name!r}; choose from: {', '.join(ARMS)}") from None


def parse_arms(values: Iterable[str]) -> list[str]:
    """Arm names from CLI values: each may be a comma list ("base,rag"); repeats dropped; unknown names raise ConfigError."""
    chosen: list[str] = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if name and name not in chosen:
                chosen.append(name)
    unknown = [name for name in chosen if name not in ARMS]
    if unknown:
        raise ConfigError(f"unknown arm(s) {', '.join(unknown)}; choose from: {', '.join(ARMS)}")
    if not chosen:
        raise ConfigError(f"no arm named; choose from: {', '.join(ARMS)}")
    return chosen


def default_arms() -> list[str]:
    """The arms compared and demoed when none are named."""
    return [s.name for s in ARMS.values() if s.default]


def trained_arms() -> list[str]:
    """Arms that have their own training run."""
    return [s.name for s in ARMS.values() if s.trained]


def adapter_installed(ws: Workspace, adapter: str) -> bool:
    """Whether `adapter`'s finished adapter (its manifest) is in this workspace."""
    return (adapter_dir(ws, adapter) / "manifest.json").is_file()


def available_arms(ws: Workspace) -> list[str]:
    """The default arms this workspace can build now: those needing no adapter, and those whose adapter is installed."""
    return [name for name in default_arms() if ARMS[name].adapter is None or adapter_installed(ws, ARMS[name].adapter or "")]


def adapters_needed(arms: Iterable[str]) -> list[str]:
    """The adapters `arms` answer with or search the training data of, each once, in arm order (what must be trained first)."""
    needed: list[str] = []
    for name in arms:
        for adapter in (spec(name).adapter, spec(name).searches_trained):
            if adapter is not None and adapter not in needed:
                needed.append(adapter)
    return needed


def floor_arm(arms: Iterable[str]) -> str | None:
    """The first of `arms` that is the plain model alone (no retrieval, no adapter): the floor the others are measured against."""
    return next((a for a in arms if a in ARMS and not ARMS[a].retrieves and ARMS[a].adapter is None), None)


def help_line(name: str) -> str:
    """What arm `name` is, in a line (for arms not in the registry: said so)."""
    return ARMS[name].help if name in ARMS else "an arm configured by the user"


def choices_help() -> str:
    """`a | b | c` for CLI help texts."""
    return " | ".join(ARMS)


def trained_on(ws: Workspace, name: str) -> AdapterManifest | None:
    """The manifest of the adapter arm `name` answers with (None: no adapter, or not trained)."""
    adapter = spec(name).adapter
    if adapter is None or not adapter_installed(ws, adapter):
        return None
    return AdapterManifest.load(adapter_dir(ws, adapter))


def build(ws: Workspace, name: str, *, generator: Generator | None = None, indexed: IndexedCorpus | None = None, seed: int = 0) -> System:
    """Arm `name` ready to answer: model loaded (with its adapter of training seed `seed`), index built when it retrieves.

    `generator` is shared by arms on the plain model (an arm with an adapter loads its own);
    `indexed` is the corpus version a retrieving arm searches (default: the latest, indexed now).
    An adapter trained on an older corpus version than the latest still loads, with a
    StaleAdapterWarning (not when `indexed` is the version it learned) and the system's
    `stale_message` saying so. Raises ConfigError for an unknown arm, AdapterError for an
    untrained one or one trained for another base model.
    """
    arm = spec(name)
    stale, info = "", None
    if arm.adapter is None:
        generator = generator or build_generator(ws.config.models)
    else:
        generator, manifest, stale = adapter_generator(ws, arm.adapter, seed)
        if stale and not (indexed is not None and manifest.corpus_version == indexed.version):
            warnings.warn(stale, StaleAdapterWarning, stacklevel=2)
        info = adapter_info(manifest, arm.adapter, stale)
    generator.warm_up()
    decoding = decoding_settings(ws)
    if arm.retrieves:
        indexed = indexed or index_corpus(ws)
        retriever = indexed.retriever if arm.searches_trained is None else trained_retriever(ws, indexed, arm.searches_trained)
        r = ws.config.retrieval
        return RagSystem(
            generator,
            retriever,
            decoding,
            k=r.k,
            context_budget_tokens=r.context_budget_tokens,
            refuse_ungrounded=r.refuse_ungrounded,
            refusal_threshold=r.refusal_threshold,
            injection_guard=r.injection_guard,
            name=name,
            stale_message=stale,
            adapter_info=info or {},
        )
    if arm.adapter is not None:
        return FineTunedSystem(generator, decoding, training_pairs(ws, arm.adapter), name=name, adapter_info=info, stale_message=stale)
    return ClosedBookSystem(generator, decoding, name=name)


def build_snapshot(ws: Workspace, name: str, snapshot: Path) -> System:
    """Closed-book arm `name` answering with an earlier state of its adapter (`snapshot`, a folder of the
    exposure curve: `adapters/<adapter>/exposure/<pct>/`), with the arm's own prompt and decoding."""
    arm = spec(name)
    if arm.adapter is None or arm.retrieves:
        raise ConfigError(f"arm {name!r}: only a closed-book arm with an adapter has adapter snapshots to answer with")
    generator, manifest, stale = adapter_generator(ws, arm.adapter, snapshot=snapshot)
    generator.warm_up()
    info = {**adapter_info(manifest, arm.adapter, stale), "snapshot": snapshot.name}
    pairs = training_pairs(ws, arm.adapter)
    return FineTunedSystem(generator, decoding_settings(ws), pairs, name=f"{name}@{snapshot.name}%", adapter_info=info, stale_message=stale)


def trained_retriever(ws: Workspace, indexed: IndexedCorpus, adapter: str) -> Retriever:
    """A retriever over the indexed corpus's chunks that `adapter` was trained on, and no others.

    The chunks are the index's own (same ids, text and access lists), filtered by the training
    set's chunk ids, so RAG over them and the fine-tuned weights hold the same information.
    Embeddings come from the index's cache: only the BM25 and vector tables are rebuilt.
    Raises AdapterError when `adapter` is not trained (its training set is not there).
    """
    if not adapter_installed(ws, adapter):
        raise AdapterError(f"arm needs the {adapter} adapter's training set: run `ragft train --arm {adapter}` first")
    trained = training_set(ws, adapter).taught_chunks()
    chunks = [chunk for chunk in indexed.retriever.chunks if chunk.chunk_id in trained]
    if not chunks:
        raise AdapterError(
            f"none of the {adapter} adapter's {len(trained)} training chunks is in corpus v{indexed.version}'s "
            f"index: retrain it (`ragft train --arm {adapter}`) or compare on the version it learned"
        )
    digest = hashlib.sha256("\n".join(c.chunk_id for c in chunks).encode()).hexdigest()[:12]
    retriever = Retriever(ws.config.retrieval, indexed.retriever.embedder, ws.index_dir)
    retriever.warm_up(chunks, version_key=f"corpus-v{indexed.version}-trained-{adapter}-{digest}")
    return retriever


def build_all(ws: Workspace, arms: Iterable[str], indexed: IndexedCorpus, *, generator: Generator | None = None) -> Mapping[str, System]:
    """Every arm in `arms` over one indexed corpus, the plain-model arms sharing one generator (`generator` when given)."""
    shared = generator
    systems: dict[str, System] = {}
    for name in arms:
        if spec(name).adapter is None:
            shared = shared or build_generator(ws.config.models)
        systems[name] = build(ws, name, generator=shared, indexed=indexed)
    return systems


__all__ = ["ARMS", "ArmSpec", "StaleAdapterWarning", "build", "build_all", "default_arms", "names", "parse_arms", "spec"]
