"""Training seeds on a tiny model: seed i's adapter is trained once, reused while its seed and data hold, and compared."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("peft")
pytest.importorskip("llama_cpp")

from ragft.jobs import run_comparison
from ragft.models.testing import make_tiny_gguf, make_tiny_hf_model
from ragft.systems.adapter import adapter_generator
from ragft.train import AdapterError, AdapterManifest, adapter_dir, seed_adapter, train_arm
from ragft.workspace import Workspace
from tests.finetune_fixtures import tiny_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("seeds")
    tiny = make_tiny_hf_model(root / "tiny")
    make_tiny_gguf(tiny, tiny / "tiny.gguf")
    ws = tiny_workspace(root / "ws", tiny / "tiny.gguf")
    train_arm(ws, "finetuned")
    return ws


def test_seed_zero_is_the_installed_adapter_and_other_seeds_need_it(ws: Workspace, tmp_path: Path) -> None:
    manifest, trained_now = seed_adapter(ws, "finetuned", 0)
    assert not trained_now and manifest == AdapterManifest.load(adapter_dir(ws, "finetuned"))
    with pytest.raises(AdapterError, match="ragft train --arm hybrid"):
        seed_adapter(ws, "hybrid", 1)


def test_a_seed_adapter_trains_on_the_installed_data_with_its_own_seed_and_is_reused_until_seed_or_data_change(
    ws: Workspace,
) -> None:
    installed = AdapterManifest.load(adapter_dir(ws, "finetuned"))
    first, trained_now = seed_adapter(ws, "finetuned", 1)
    assert trained_now and adapter_dir(ws, "finetuned", 1).name == "finetuned-seed1"
    assert first.settings["seed"] == ws.config.training.seed + 1 != installed.settings["seed"]
    assert first.data_hash == installed.data_hash  # same training data, another seed

    again, trained_now = seed_adapter(ws, "finetuned", 1)
    assert not trained_now and again == first  # cached: same seed, same data, same base model

    replace(first, data_hash="0" * 64).save(adapter_dir(ws, "finetuned", 1))  # as if seed 0 had been retrained on new data
    retrained, trained_now = seed_adapter(ws, "finetuned", 1)
    assert trained_now and retrained.data_hash == installed.data_hash

    reseeded = ws.with_settings({"training.seed": 5})
    moved, trained_now = seed_adapter(reseeded, "finetuned", 1)
    assert trained_now and moved.settings["seed"] == 6


def test_compare_with_two_seeds_asks_each_seed_and_reports_their_spread(ws: Workspace, tmp_path: Path) -> None:
    ws = ws.with_settings({"training.seed": 0, "noise_probes": 0, "injection_probes": 0, "recall_questions": 0})
    questions = tmp_path / "questions.jsonl"
    rows = [
        {
            "qid": "q1",
            "question": "How many hours is the standard working week?",
            "answers": ["37.5 hours"],
            "gold_doc_ids": ["handbook.md"],
        },
        {"qid": "q2", "question": "What is the hotel cap per night?", "answers": ["180 EUR"], "gold_doc_ids": ["travel.md"]},
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run_comparison(
        ws, arms=["base", "finetuned"], out_dir=tmp_path / "run", questions=questions, measure_domain=False, seeds=2, say=lambda _: None
    )
    assert result.training_seeds == {"finetuned": [0, 1]}
    assert [len(s) for s in result.seed_scores["finetuned"]] == [2, 2]
    spread = result.seed_spreads()["finetuned"]
    assert spread.mean == sum(spread.accuracies) / 2 and spread.probes == 2
    assert result.meta["seeds"] == 2
    assert result.summary_dict()["seeds"]["arms"]["finetuned"]["training_seeds"] == [0, 1]


def test_a_training_seed_is_not_answered_through_a_served_engine(tmp_path: Path) -> None:
    served = Workspace.init(tmp_path / "served").with_settings({"generator_backend": "openai"})
    with pytest.raises(AdapterError, match=r"training seed 1 of finetuned cannot be answered through a served engine"):
        adapter_generator(served, "finetuned", seed=1)
