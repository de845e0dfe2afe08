"""The arm registry: one entry is all a new arm needs for the CLI, the report, the guard and build()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragft import arms
from ragft.arms import ArmSpec
from ragft.config import ConfigError
from ragft.report import svg
from ragft.report.html import render_html
from ragft.serve.guard import restricted_training_docs
from ragft.systems.rag import RagSystem
from ragft.train.adapter_files import TRAINING_SET_FILE
from ragft.train.manifest import ADAPTERS, adapter_dir
from ragft.workspace import Workspace

from .conftest import ragft

PARITY = ArmSpec(
    "rag-k8", retrieves=True, adapter=None, outsider_safe=True, default=False, help="RAG with the settings of the paper it is compared to"
)
LEARNED = ArmSpec(
    "finetuned-parity",
    retrieves=False,
    adapter="finetuned",
    outsider_safe=False,
    default=False,
    help="the fine-tuned adapter under other decoding settings",
)


@pytest.fixture
def with_new_arms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry with two entries added, as someone adding an arm would write them."""
    monkeypatch.setattr(arms, "ARMS", {**arms.ARMS, PARITY.name: PARITY, LEARNED.name: LEARNED})


def test_the_registry_states_each_arm_once_and_points_at_adapters_train_makes() -> None:
    assert arms.names() == ["base", "rag", "finetuned", "hybrid", "finetuned+rag", "rag-parity"]
    assert arms.default_arms() == ["base", "rag", "finetuned", "hybrid"]
    assert arms.trained_arms() == ["finetuned", "hybrid"] and set(arms.trained_arms()) == set(ADAPTERS)
    assert [arms.spec(a).adapter for a in ("base", "rag", "finetuned", "hybrid", "finetuned+rag")] == [
        None,
        None,
        "finetuned",
        "hybrid",
        "finetuned",
    ]
    assert arms.adapters_needed(["finetuned+rag", "rag", "hybrid", "finetuned"]) == ["finetuned", "hybrid"]
    assert arms.adapters_needed(["rag-parity"]) == ["finetuned"]  # it searches what the fine-tune was trained on
    assert arms.floor_arm(["rag", "base", "finetuned"]) == "base" and arms.floor_arm(["rag", "hybrid"]) is None
    with pytest.raises(ConfigError, match="adapter 'raft-v2' is not one train makes"):
        arms._check([ArmSpec("x", retrieves=True, adapter="raft-v2", outsider_safe=False, help="")])


def test_arm_lists_take_commas_and_repeats_and_name_the_choices_when_wrong() -> None:
    assert arms.parse_arms(["base,rag", "rag", " hybrid "]) == ["base", "rag", "hybrid"]
    with pytest.raises(ConfigError, match=r"unknown arm\(s\) oracle; choose from: base, rag, finetuned, hybrid, finetuned\+rag"):
        arms.parse_arms(["base,oracle"])
    with pytest.raises(ConfigError, match="no arm named"):
        arms.parse_arms([","])


def test_a_registry_entry_is_all_the_cli_report_and_guard_need(with_new_arms: None, tmp_path: Path) -> None:
    assert arms.parse_arms(["base,rag-k8"]) == ["base", "rag-k8"]  # CLI --arms choices
    result = ragft("compare", "-w", str(Workspace.init(tmp_path / "ws").root), "--arms", "oracle")
    assert result.exit_code == 2 and "rag-k8" in result.output and "finetuned-parity" in result.output
    assert "rag-k8" in arms.choices_help()  # help texts
    assert arms.help_line("rag-k8") == PARITY.help  # the report's description of the arm
    assert svg._color("rag-k8") == svg.PALETTE[arms.names().index("rag-k8") % len(svg.PALETTE)]
    assert not arms.spec("rag-k8").default and "rag-k8" not in arms.default_arms()

    ws = Workspace.init(tmp_path / "guarded")
    training_set = adapter_dir(ws, "finetuned") / TRAINING_SET_FILE
    training_set.parent.mkdir(parents=True)
    training_set.write_text(json.dumps({"chunks": [{"doc_id": "hr/pay.md", "acl": ["hr"]}]}))
    assert restricted_training_docs(ws, "finetuned-parity") == ["hr/pay.md"]  # weights learned it: the guard knows
    assert restricted_training_docs(ws, "rag-k8") == []  # retrieval filters per caller


def test_the_report_describes_an_arm_from_its_registry_entry(with_new_arms: None, tmp_path: Path) -> None:
    from tests.test_report import build_result

    result = build_result(tmp_path)
    html = render_html(result)
    for arm in result.arms:
        assert arms.help_line(arm) in html


def test_build_makes_a_new_arm_from_its_entry(with_new_arms: None, ws: Path) -> None:
    system = arms.build(Workspace.open(ws), "rag-k8")
    assert isinstance(system, RagSystem) and system.name == "rag-k8"
    assert system.answer("What is the travel policy?").trace["system"] == "rag-k8"


def test_compare_checks_every_argument_before_any_work(ws: Path, tmp_path: Path) -> None:
    index = Workspace.open(ws).index_dir
    before = sorted(index.rglob("*")) if index.exists() else []
    for args, message in (
        (["--arms", "base,oracle"], "unknown arm(s) oracle; choose from: base, rag"),
        (["--arms", "base", "--version", "9"], "corpus version 9 does not exist"),
        (["--arms", "rag", "--questions", str(tmp_path / "none.jsonl")], "no such question file"),
        (["--arms", "hybrid"], "run `ragft train --arm hybrid`"),
    ):
        result = ragft("compare", "-w", str(ws), *args, "--out", str(tmp_path / "out"))
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert (sorted(index.rglob("*")) if index.exists() else []) == before, "nothing was indexed"
    assert not (tmp_path / "out").exists()
