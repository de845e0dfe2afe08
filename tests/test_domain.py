"""Domain distance on the configured generator: measured where its backend can score tokens, and
"not measured" with the reason where it cannot, from the function up to `ragft compare`'s report."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragft.evaluate.domain import REFERENCE_TEXT, corpus_sample, domain_distance
from ragft.evaluate.stats import Interval
from ragft.models.base import ScoringUnavailable, TokenScores
from ragft.models.testing import ScriptedGenerator, ScriptedScorer, make_tiny_hf_model
from ragft.types import Document
from ragft.workspace import Workspace
from tests.openai_fakes import FakeServer, serve_fake

from .conftest import ragft, set_setting

DOCS = [Document("a.md", "A", "Quarterly zorbling of frammistats " * 20, "a.md")]
KNOWN = Interval(0.25, 0.1, 0.5, 8)


def test_perplexities_come_from_the_scorer_and_the_ratio_says_how_foreign_the_corpus_reads() -> None:
    scorer = ScriptedScorer(lambda text: -4.0 if "zorbling" in text else -2.0, name="fake")
    d = domain_distance(DOCS, scorer, known_facts=KNOWN)
    assert d.measured and d.not_measured == ""
    assert d.corpus_perplexity == pytest.approx(math.exp(4.0)) and d.reference_perplexity == pytest.approx(math.exp(2.0))
    assert d.perplexity_ratio == pytest.approx(math.exp(2.0))
    assert d.corpus_tokens == len(corpus_sample(DOCS).split()) - 1 and d.reference_tokens == len(REFERENCE_TEXT.split()) - 1
    assert d.model == "fake" and d.known_facts == KNOWN


def test_max_tokens_bounds_what_is_scored() -> None:
    d = domain_distance(DOCS, ScriptedScorer(lambda _: -1.0), max_tokens=10)
    assert (d.corpus_tokens, d.reference_tokens) == (9, 9)


def test_a_generator_that_cannot_score_gives_not_measured_with_the_reason_and_keeps_known_facts() -> None:
    d = domain_distance(DOCS, ScriptedGenerator(name="chat-only"), known_facts=KNOWN)
    assert not d.measured and "chat-only (ScriptedGenerator) cannot score tokens" in d.not_measured
    assert d.corpus_perplexity is None and d.perplexity_ratio is None and d.known_facts == KNOWN
    assert json.loads(json.dumps(d.to_dict()))["not_measured"] == d.not_measured, "summary.json stays valid JSON"


class RefusingScorer:
    name = "server"

    def score(self, text: str, *, max_tokens: int = 512) -> TokenScores:
        raise ScoringUnavailable("http://x/v1/completions refused a request for prompt log-probabilities: HTTP 404")


def test_a_scorer_that_turns_out_unable_gives_not_measured_with_its_message() -> None:
    d = domain_distance(DOCS, RefusingScorer(), known_facts=KNOWN)
    assert not d.measured and d.not_measured.endswith("HTTP 404") and d.known_facts == KNOWN


def test_an_empty_corpus_is_not_measured_rather_than_nan() -> None:
    d = domain_distance([], ScriptedScorer(lambda _: -1.0))
    assert not d.measured and "no text" in d.not_measured


# ---- `ragft compare` end to end: a transformers model directory, and an OpenAI-compatible server


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_hf_model(tmp_path_factory.mktemp("tiny-hf"))


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    yield from serve_fake()


def _workspace(root: Path, docs: Path, settings: dict[str, str]) -> Path:
    Workspace.init(root)
    small = {
        "embedder": '"hashing"',
        "max_new_tokens": "4",
        "probes_per_kind": "1",
        "noise_ks": "[1]",
        "noise_probes": "1",
        "bootstrap_samples": "20",
        "injection_probes": "0",
    }
    for key, value in {**small, **settings}.items():
        set_setting(root, key, value)
    assert ragft("ingest", str(docs), "-w", str(root)).exit_code == 0
    return root


def _compare(ws: Path, out: Path) -> tuple[dict, str, str]:
    result = ragft("compare", "-w", str(ws), "--arms", "base", "--out", str(out))
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text())["domain"], (out / "report.html").read_text(), result.output


def test_compare_on_a_transformers_model_directory_measures_domain_distance(tmp_path: Path, mixed_folder: Path, tiny_hf: Path) -> None:
    ws = _workspace(tmp_path / "ws", mixed_folder, {"generator_backend": '"transformers"', "generator": f'"{tiny_hf}"'})
    domain, html, _ = _compare(ws, tmp_path / "out")
    assert domain["not_measured"] == "" and domain["model"] == tiny_hf.name
    assert domain["corpus_perplexity"] > 1 and domain["reference_perplexity"] > 1 and domain["corpus_tokens"] > 50
    assert domain["perplexity_ratio"] == pytest.approx(domain["corpus_perplexity"] / domain["reference_perplexity"])
    assert "base-model perplexity on the corpus" in html and "not measured" not in html.split("<h2>Domain distance</h2>", 1)[1][:300]


def _openai_settings(srv: FakeServer) -> dict[str, str]:
    host, port = srv.server_address[:2]
    return {"generator_backend": '"openai"', "generator": '"tiny"', "openai_base_url": f'"http://{host}:{port}/v1"'}


def test_compare_on_an_openai_server_without_prompt_logprobs_writes_the_report_saying_why(
    tmp_path: Path, mixed_folder: Path, server: FakeServer
) -> None:
    ws = _workspace(tmp_path / "ws", mixed_folder, _openai_settings(server))
    domain, html, output = _compare(ws, tmp_path / "out")
    assert domain["corpus_perplexity"] is None and domain["model"] == "openai:tiny"
    assert (
        "/v1/completions refused a request for prompt log-probabilities" in domain["not_measured"] and "HTTP 404" in domain["not_measured"]
    )
    section = html.split("<h2>Domain distance</h2>", 1)[1]
    assert section.startswith("<p><strong>Perplexity not measured:</strong> http://") and "HTTP 404" in section[:500]
    assert "perplexity not measured" in output, "the terminal summary says so too"
    assert any(r["path"] == "/v1/chat/completions" for r in server.requests), "the answers came from the server"


def test_compare_on_an_openai_server_with_prompt_logprobs_measures_domain_distance(
    tmp_path: Path, mixed_folder: Path, server: FakeServer
) -> None:
    server.completions = "echo"
    ws = _workspace(tmp_path / "ws", mixed_folder, _openai_settings(server))
    domain, _, _ = _compare(ws, tmp_path / "out")
    assert domain["not_measured"] == "" and domain["corpus_perplexity"] > 1
    assert domain["reference_tokens"] == len(REFERENCE_TEXT.split()) - 1, "the fake server's tokens are words"
