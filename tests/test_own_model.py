"""Bring your own model: every command on a Hugging Face model directory (made in the test) with
`[models] device = "cpu"`, training on a GGUF that has no directory beside it, the clear refusal to
train a served model, and domain distance on a generator that cannot score tokens."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest

pytest.importorskip("peft")

from ragft.evaluate.stages import DomainPlan, domain_stage
from ragft.evaluate.stats import Interval
from ragft.evaluate.summary import ArmSummary
from ragft.models.device import device_name
from ragft.models.testing import ScriptedGenerator, make_tiny_gguf, make_tiny_hf_model
from ragft.sample import write_sample
from ragft.train import adapter_dir
from ragft.types import Document
from ragft.workspace import Workspace

from .conftest import ragft
from .serve_fixtures import start_server, stop

SMALL = {  # a few probes and a few chunks: every stage runs, in seconds, on the tiny model
    "embedder": "hashing",
    "device": "cpu",
    "max_new_tokens": 4,
    "probes_per_kind": 1,
    "noise_ks": [1, 2],
    "noise_probes": 1,
    "injection_probes": 1,
    "recall_questions": 2,
    "judge_retries": 0,
    "bootstrap_samples": 20,
    "budget_minutes": 0.0,
    "max_chunks": 3,
    "facts_per_chunk": 2,
    "paraphrases": 2,
    "epochs": 1,
    "raft_epochs": 1,
    "raft_examples": 4,
    "lora_rank": 4,
    "lora_alpha": 8,
    "max_length_tokens": 384,
}


def _init(root: Path, settings: dict[str, object]) -> Path:
    assert ragft("init", str(root)).exit_code == 0
    Workspace.open(root).with_settings(settings)
    return root


@pytest.fixture(scope="module")
def own_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose generator (and judge) is a model directory: sample corpus v1 and v2, both arms trained on v1."""
    root = tmp_path_factory.mktemp("own")
    model = make_tiny_hf_model(root / "my-model")
    ws = _init(root / "ws", {**SMALL, "generator": str(model), "judge": str(model)})
    docs = root / "docs"
    write_sample(docs, 1)
    assert ragft("ingest", str(docs), "-w", str(ws)).exit_code == 0
    for arm in ("finetuned", "hybrid"):
        trained = ragft("train", "--arm", arm, "-w", str(ws))
        assert trained.exit_code == 0, trained.output
    write_sample(docs, 2)
    assert ragft("ingest", str(docs), "-w", str(ws)).exit_code == 0
    return ws


def test_training_on_a_model_directory_records_the_device_dtype_and_quantization(own_model: Path) -> None:
    for arm in ("finetuned", "hybrid"):
        manifest = json.loads((adapter_dir(Workspace.open(own_model), arm) / "manifest.json").read_text())
        metrics = manifest["metrics"]
        assert manifest["base_model"].startswith("my-model@") and "gguf_lora" not in manifest["files"], "served by transformers"
        assert (metrics["device"], metrics["device_name"], metrics["quantization"]) == ("cpu", device_name("cpu"), "none")
        assert metrics["precision"] in ("bf16", "fp32") and metrics["loss_scaling"] is False
        assert manifest["settings"]["quantize_base"] == "none" and metrics["steps"] >= 1


def test_ask_answers_with_every_arm_of_the_own_model(own_model: Path) -> None:
    for system in ("base", "rag", "finetuned", "hybrid"):
        asked = ragft("ask", "What is the travel hotel cap?", "--system", system, "-w", str(own_model))
        assert asked.exit_code == 0, (system, asked.output)


def test_compare_on_a_model_directory_completes_every_stage_and_writes_the_report(own_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = ragft("compare", "--version", "1", "--out", str(out), "-w", str(own_model))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    arms = set(summary["arms"])
    assert {"base", "rag", "finetuned", "hybrid"} <= arms
    assert all(Path(path).is_file() for path in summary["answers"].values())
    assert {p["arm"] for p in summary["noise"]} >= {"rag", "hybrid"}, "noise sweep on the retrieving arms"
    assert set(summary["freshness"]) == arms, "freshness measured against v2 for every arm"
    assert summary["injection"]["rag"]["probes"] == 1 and summary["injection"]["base"]["rate"] is None
    assert summary["judge"] is not None and set(summary["judge"]["arms"]) == arms
    domain = summary["domain"]
    assert domain["not_measured"] == "" and domain["model"] == "my-model" and domain["perplexity_ratio"] > 0
    assert {"finetuned", "hybrid"} <= set(summary["taught"]["arms"])
    assert (out / "report.html").is_file() and "<h2>Domain distance</h2>" in (out / "report.html").read_text()


def test_serve_answers_from_the_own_model(own_model: Path) -> None:
    key = re.search(r"rk_\S+", ragft("users", "add", "ann", "-w", str(own_model)).output).group(0)
    server, base = start_server(own_model)
    try:
        reply = httpx.post(
            f"{base}/v1/ask", json={"question": "What is the hotel cap?"}, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["timings"]
    finally:
        stop(server)


def test_a_gguf_on_its_own_is_trained_on_its_dequantised_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFT_CACHE_DIR", str(tmp_path / "cache"))
    alone = tmp_path / "models" / "alone.gguf"
    alone.parent.mkdir()
    make_tiny_gguf(make_tiny_hf_model(tmp_path / "hf"), alone)
    shutil.rmtree(tmp_path / "hf")  # no Hugging Face directory anywhere: only the GGUF
    ws = _init(tmp_path / "ws", {**SMALL, "generator": str(alone), "replay_share": 0.0})
    docs = tmp_path / "docs"
    write_sample(docs, 1)
    assert ragft("ingest", str(docs), "-w", str(ws)).exit_code == 0
    trained = ragft("train", "--arm", "finetuned", "-w", str(ws))
    assert trained.exit_code == 0, trained.output
    manifest = json.loads((adapter_dir(Workspace.open(ws), "finetuned") / "manifest.json").read_text())
    assert manifest["base_model"].startswith("alone.gguf@") and manifest["files"]["gguf_lora"] == "adapter.gguf"
    assert (tmp_path / "cache" / f"alone-{manifest['base_model'].split('@')[1]}-hf" / "config.json").is_file()
    asked = ragft("ask", "What is the hotel cap?", "--system", "finetuned", "-w", str(ws))
    assert asked.exit_code == 0, asked.output


def test_training_a_served_model_says_it_needs_the_weights_and_which_setting_points_at_them(tmp_path: Path) -> None:
    ws = _init(tmp_path / "ws", {"embedder": "hashing", "generator_backend": "openai", "generator": "my-served-model"})
    write_sample(tmp_path / "docs", 1)
    assert ragft("ingest", str(tmp_path / "docs"), "-w", str(ws)).exit_code == 0
    refused = ragft("train", "--arm", "finetuned", "-w", str(ws))
    assert refused.exit_code != 0
    message = " ".join(refused.output.split())
    assert "the served model 'my-served-model' cannot be fine-tuned from here, because training needs its weights" in message
    assert "Point [models] generator at them" in message and "Hugging Face model directory" in message


def test_domain_distance_on_a_generator_without_score_is_not_measured_with_the_reason() -> None:
    docs = [Document("a.md", "A", "The Zorbling quarterly rota is kept by the Lamplighter. " * 10, "a.md")]
    known = Interval(0.5, 0.2, 0.8, 4)
    summaries = {"base": ArmSummary("base", 4, {}, {"fact": {"accuracy": known}})}
    distance = domain_stage(DomainPlan(docs, ScriptedGenerator(name="chat-only")), summaries, "base")
    assert not distance.measured and distance.perplexity_ratio is None
    assert distance.not_measured == "the generator chat-only (ScriptedGenerator) cannot score tokens"
    assert distance.known_facts == known, "the base arm's known-facts share is still reported"
