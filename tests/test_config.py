"""ragft.toml: the template documents exactly the defaults; typos and wrong types are clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ragft.config import (
    DEFAULT_TOML,
    Config,
    ConfigError,
    config_from_dict,
    load_config,
)


def test_the_template_states_every_default() -> None:
    parsed = tomllib.loads(DEFAULT_TOML)
    assert config_from_dict(parsed) == Config()
    for section, values in parsed.items():
        assert set(values) == set(vars(getattr(Config(), section))), f"[{section}] lists every setting"


def test_an_unknown_setting_names_the_section_and_the_valid_keys() -> None:
    with pytest.raises(ConfigError, match=r"\[retrieval\]: unknown setting 'kk'.*candidates"):
        config_from_dict({"retrieval": {"kk": 3}})


def test_a_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="'k' must be int"):
        config_from_dict({"retrieval": {"k": "four"}})
    with pytest.raises(ConfigError, match="must be bool"):
        config_from_dict({"retrieval": {"refuse_ungrounded": 1}})


def test_a_share_or_threshold_outside_its_range_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[retrieval\]: 'refusal_threshold' must be between 0 and 1, got 1.5"):
        config_from_dict({"retrieval": {"refusal_threshold": 1.5}})
    with pytest.raises(ConfigError, match="'replay_share' must be between 0 and 1"):
        config_from_dict({"training": {"replay_share": -0.1}})
    assert config_from_dict({"retrieval": {"refusal_threshold": 0}}).retrieval.refusal_threshold == 0


def test_an_int_is_accepted_for_a_float_setting() -> None:
    assert config_from_dict({"corpus": {"max_file_mb": 10}}).corpus.max_file_mb == 10


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ragft.toml"
    path.write_text("[corpus\n")
    with pytest.raises(ConfigError, match="ragft.toml: not valid TOML"):
        load_config(path)


def test_training_precision_resolves_to_bf16_or_fp32_and_rejects_anything_else():
    from ragft.models.runtime import resolve_precision

    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") in ("bf16", "fp32")
    with pytest.raises(ValueError, match="auto, bf16 or fp32"):
        resolve_precision("fp16")


def test_a_setting_with_fixed_choices_names_them_when_the_value_is_not_one():
    with pytest.raises(ConfigError, match=r"\[training\]: 'precision' must be one of auto, bf16, fp32, got 'fp16'"):
        config_from_dict({"training": {"precision": "fp16"}})


def test_changing_settings_rewrites_ragft_toml_and_a_bad_value_leaves_it_intact(tmp_path: Path):
    from ragft.workspace import Workspace, WorkspaceError

    ws = Workspace.init(tmp_path / "ws").with_settings({"noise_ks": [1, 4], "training.precision": "fp32"}, note="test")
    assert ws.config.evaluation.noise_ks == (1, 4) and ws.config.training.precision == "fp32"
    before = (ws.root / "ragft.toml").read_text()
    assert 'precision = "fp32"  # test' in before
    with pytest.raises(ConfigError, match="precision"):
        ws.with_settings({"max_chunks": 0, "training.precision": "fp16"})
    with pytest.raises(WorkspaceError, match="no setting 'colour'"):
        ws.with_settings({"colour": "blue"})
    assert (ws.root / "ragft.toml").read_text() == before


def test_a_setting_name_used_in_two_sections_must_be_qualified(tmp_path: Path):
    from ragft.workspace import Workspace, WorkspaceError

    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(WorkspaceError, match="more than one setting"):
        ws.with_settings({"seed": 3})
    ws = ws.with_settings({"training.seed": 3})
    assert ws.config.training.seed == 3 and ws.config.evaluation.seed == 0


def test_a_retired_setting_in_an_older_ragft_toml_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="'rerank' is no longer used"):
        config = config_from_dict({"retrieval": {"rerank": False, "k": 3}})
    assert config.retrieval.k == 3
