"""Every arm through a real OpenAI-compatible engine: llama-cpp-python's server, started by the test.

The server serves the tiny model as "base" and its trained adapters as "finetuned" and "hybrid",
from the config `ragft engine-command llama-server` writes; `ragft compare` with
generator_backend = "openai" must give exactly the in-process llama.cpp engine's greedy answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("peft")
pytest.importorskip("llama_cpp.server.app", reason='needs llama-cpp-python[server] (pip install -e ".[dev]")')

from ragft.cli.engine import BASE_ALIAS
from ragft.workspace import Workspace
from tests.conftest import ragft
from tests.engine_fixtures import DOCS, llama_server, serving_arms, shared_trained_workspace, start_plan

ARMS = "base,rag,finetuned,hybrid,finetuned+rag"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return shared_trained_workspace(tmp_path_factory)


@pytest.fixture(scope="module")
def served(trained: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    """A copy of the trained workspace pointed at a running llama.cpp server that serves its arms."""
    with serving_arms(trained, tmp_path_factory.mktemp("served") / "ws") as served:
        yield served


def _records(out: Path) -> dict[str, list[dict[str, Any]]]:
    """arm -> its answer records, from a comparison's main answer files."""
    summary = json.loads((out / "summary.json").read_text())
    return {arm: [json.loads(line) for line in Path(path).read_text().splitlines()] for arm, path in summary["answers"].items()}


def _answers(out: Path) -> dict[str, list[tuple[str, str]]]:
    """arm -> [(qid, text)] from a comparison's main answer files."""
    return {arm: [(r["qid"], r["text"]) for r in records] for arm, records in _records(out).items()}


def _refusal_probabilities(out: Path) -> list[float | None]:
    """Every RAG answer's refusal probability (from the first token's candidates), arm by arm."""
    return [r["trace"].get("refusal_probability") for arm, records in sorted(_records(out).items()) if "rag" in arm for r in records]


def test_compare_through_the_server_gives_the_in_process_engines_greedy_answers(
    trained: Workspace, served: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws, _ = served
    local = ragft("compare", "--arms", ARMS, "--no-domain", "--out", str(tmp_path / "local"), "-w", str(trained.root))
    assert local.exit_code == 0, local.output
    remote = ragft("compare", "--arms", ARMS, "--out", str(tmp_path / "remote"), "-w", str(ws.root))
    assert remote.exit_code == 0, remote.output
    local_answers, remote_answers = _answers(tmp_path / "local"), _answers(tmp_path / "remote")
    assert set(remote_answers) == set(ARMS.split(","))
    assert remote_answers == local_answers
    assert sum(1 for texts in remote_answers.values() for _, text in texts if text.strip()) > 10, "real text came back"
    assert len({tuple(t for _, t in texts) for texts in remote_answers.values()}) >= 3, "the adapters change the answers"
    summary = json.loads((tmp_path / "remote" / "summary.json").read_text())
    models = {
        arm: {json.loads(line)["trace"]["model"] for line in Path(p).read_text().splitlines()} for arm, p in summary["answers"].items()
    }
    assert models == {
        "base": {"openai:base"},
        "rag": {"openai:base"},
        "finetuned": {"openai:finetuned"},
        "hybrid": {"openai:hybrid"},
        "finetuned+rag": {"openai:finetuned"},
    }
    assert summary["meta"]["concurrency"] == dict.fromkeys(ARMS.split(","), 1)  # llama_cpp.server answers one at a time
    domain = summary["domain"]
    assert domain["perplexity_ratio"] is None and "shifts echoed prompt log-probabilities by one token" in domain["not_measured"]
    local_p, remote_p = _refusal_probabilities(tmp_path / "local"), _refusal_probabilities(tmp_path / "remote")
    assert None not in remote_p, "the first token's candidates came back for every RAG answer"
    assert remote_p == pytest.approx(local_p, abs=1e-3)


def test_concurrent_requests_to_the_server_each_get_their_whole_answer(served: tuple[Workspace, str]) -> None:
    """With interrupt_requests off (as engine-command writes it), a second request does not cut the first short."""
    from concurrent.futures import ThreadPoolExecutor

    from ragft.models.base import DecodingSettings
    from ragft.models.openai_backend import OpenAIGenerator

    _, base_url = served
    generator = OpenAIGenerator(base_url, "finetuned", max_retries=0)
    messages = [{"role": "user", "content": "When was Orrivale founded?"}]
    settings = DecodingSettings(max_new_tokens=12)
    alone = generator.generate(messages, settings)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: generator.generate(messages, settings), range(4)))
    assert alone.extra["finish_reason"] == "length" and alone.text
    assert [g.text for g in together] == [alone.text] * 4


def test_a_model_name_the_server_does_not_serve_is_refused_at_warm_up_naming_what_it_serves(served: tuple[Workspace, str]) -> None:
    from ragft.models.base import ModelError
    from ragft.models.openai_backend import OpenAIGenerator

    _, base_url = served
    OpenAIGenerator(base_url, "hybrid").warm_up()
    with pytest.raises(ModelError, match=r"serves base, finetuned, hybrid, not 'finetuned-v2'.*ragft engine-command.*openai_adapter_model"):
        OpenAIGenerator(base_url, "finetuned-v2").warm_up()


def test_a_server_without_logits_all_answers_without_first_token_candidates(trained: Workspace, tmp_path: Path) -> None:
    """llama_cpp.server fails a logprobs stream after its 200 header without logits_all: the answer still comes, the candidates do not."""
    from ragft.models.base import DecodingSettings
    from ragft.models.openai_backend import OpenAIGenerator

    plan = start_plan(trained)
    assert plan.config is not None
    config = {**plan.config, "models": [{**m, "logits_all": False} for m in plan.config["models"][:1]]}
    plan = replace(plan, config=config, config_path=tmp_path / "server.json", served={BASE_ALIAS: plan.served[BASE_ALIAS]})
    plan = replace(plan, argv=[*plan.argv[:-1], str(plan.config_path)])
    messages = [{"role": "user", "content": "When was Orrivale founded?"}]
    with llama_server(plan, tmp_path / "server.log") as base_url:
        generator = OpenAIGenerator(base_url, BASE_ALIAS, max_retries=1)  # the broken stream leaves a dead pooled connection
        plain = generator.generate(messages, DecodingSettings(max_new_tokens=8))
        asked = generator.generate(messages, DecodingSettings(max_new_tokens=8, first_token_candidates=True))
    assert plain.text and asked.text == plain.text
    assert asked.first_token_top == () and asked.extra["candidates_s"] > 0


def test_the_servers_echoed_prompt_logprobs_disagree_with_the_in_process_scorer_so_domain_distance_is_not_measured(
    trained: Workspace, served: tuple[Workspace, str]
) -> None:
    """llama-cpp-python's server shifts echoed log-probabilities by one token for a model without BOS (the tiny model, like Qwen).

    If a later version fixes it, the first assertion fails: then drop `_refuse_a_shifted_echo` and assert agreement instead.
    """
    import httpx

    from ragft.evaluate.domain import domain_distance
    from ragft.models.factory import build_generator
    from ragft.models.openai_backend import OpenAIGenerator

    ws, base_url = served
    text = DOCS["handbook.md"]
    in_process = build_generator(trained.config.models).score(text, max_tokens=48).logprobs  # type: ignore[attr-defined]
    body = httpx.post(
        f"{base_url}/completions",
        json={"model": BASE_ALIAS, "prompt": text, "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0.0},
        timeout=60,
    ).json()
    echoed = [v for v in body["choices"][0]["logprobs"]["token_logprobs"] if v is not None][: len(in_process)]
    assert len(echoed) == len(in_process) == 47
    assert max(abs(a - b) for a, b in zip(echoed, in_process, strict=True)) > 0.5, "the echo is not the model's prompt log-probabilities"
    distance = domain_distance(list(ws.store.documents()), OpenAIGenerator(base_url, BASE_ALIAS), max_tokens=48)
    assert not distance.measured and distance.perplexity_ratio is None
    assert "has no beginning-of-sequence token" in distance.not_measured and "vLLM" in distance.not_measured
