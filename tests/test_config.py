"""ragft.toml: typos, wrong types and bad values are clear errors; edits keep the user's file as it was.

The field-by-field checks of the schema (docs, choices, ranges, the template) are in test_config_schema.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ragft.config import (
    ConfigError,
    config_from_dict,
    load_config,
)


def test_an_unknown_section_or_setting_names_what_is_known() -> None:
    with pytest.raises(ConfigError, match=r"ragft.toml: \[retrieval\] unknown setting 'kk'; known: k, candidates"):
        config_from_dict({"retrieval": {"kk": 3}})
    with pytest.raises(ConfigError, match=r"unknown section \[retreival\]; known: corpus, models"):
        config_from_dict({"retreival": {"k": 3}})
    with pytest.raises(ConfigError, match=r"\[retrieval\] must be a table of settings"):
        config_from_dict({"retrieval": 3})


def test_a_wrong_type_is_refused_naming_the_key_the_value_and_the_kind() -> None:
    with pytest.raises(ConfigError, match=r"\[retrieval\] k = 'four' must be a whole number"):
        config_from_dict({"retrieval": {"k": "four"}})
    with pytest.raises(ConfigError, match=r"refuse_ungrounded = 1 must be true or false"):
        config_from_dict({"retrieval": {"refuse_ungrounded": 1}})
    with pytest.raises(ConfigError, match=r"noise_ks = \[1, 'a'\] must be a list of whole numbers"):
        config_from_dict({"evaluation": {"noise_ks": [1, "a"]}})


def test_a_share_or_threshold_outside_its_range_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[retrieval\] refusal_threshold = 1.5 is out of range; allowed: 0 to 1"):
        config_from_dict({"retrieval": {"refusal_threshold": 1.5}})
    with pytest.raises(ConfigError, match=r"replay_share = -0\.1 is out of range; allowed: 0 to 1"):
        config_from_dict({"training": {"replay_share": -0.1}})
    assert config_from_dict({"retrieval": {"refusal_threshold": 0}}).retrieval.refusal_threshold == 0


def test_an_int_is_accepted_for_a_float_setting_and_stored_as_a_float() -> None:
    value = config_from_dict({"corpus": {"max_file_mb": 10}}).corpus.max_file_mb
    assert value == 10 and isinstance(value, float)


def test_an_overlap_as_long_as_the_chunk_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[corpus\] chunk_overlap_tokens = 40 must be below chunk_size_tokens = 40"):
        config_from_dict({"corpus": {"chunk_size_tokens": 40, "chunk_overlap_tokens": 40}})
    assert config_from_dict({"corpus": {"chunk_size_tokens": 40, "chunk_overlap_tokens": 0}}).corpus.chunk_size_tokens == 40


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ragft.toml"
    path.write_text("[corpus\n")
    with pytest.raises(ConfigError, match=r"ragft\.toml: not valid TOML"):
        load_config(path)


def test_training_precision_resolves_to_bf16_or_fp32_and_rejects_anything_else():
    from ragft.models.runtime import resolve_precision

    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") in ("bf16", "fp32")
    with pytest.raises(ValueError, match="auto, bf16 or fp32"):
        resolve_precision("fp16")


def test_a_setting_with_fixed_choices_names_them_when_the_value_is_not_one():
    with pytest.raises(ConfigError, match=r"\[training\] precision = 'fp16' is not known; choose one of: auto, bf16, fp32"):
        config_from_dict({"training": {"precision": "fp16"}})


def test_changing_settings_rewrites_ragft_toml_and_a_bad_value_leaves_it_intact(tmp_path: Path):
    from ragft.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws").with_settings({"noise_ks": [1, 4], "training.precision": "fp32"}, note="test")
    assert ws.config.evaluation.noise_ks == (1, 4) and ws.config.training.precision == "fp32"
    before = (ws.root / "ragft.toml").read_text()
    assert '\nprecision = "fp32"  # test\n' in before and "\nnoise_ks = [1, 4]  # test\n" in before
    with pytest.raises(ConfigError, match="precision = 'fp16'"):
        ws.with_settings({"max_chunks": 0, "training.precision": "fp16"})
    with pytest.raises(ConfigError, match="no setting 'colour'"):
        ws.with_settings({"colour": "blue"})
    with pytest.raises(ConfigError, match=r"no setting 'retrieval\.seed'"):
        ws.with_settings({"retrieval.seed": 1})
    assert (ws.root / "ragft.toml").read_text() == before
    assert not list(ws.root.glob(".*.tmp")), "no temporary file is left behind"


def test_a_setting_name_used_in_two_sections_must_be_qualified(tmp_path: Path):
    from ragft.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(ConfigError, match=r"more than one setting 'seed' \(decoding.seed, evaluation.seed, training.seed\)"):
        ws.with_settings({"seed": 3})
    ws = ws.with_settings({"training.seed": 3})
    assert ws.config.training.seed == 3 and ws.config.evaluation.seed == 0


USER_TOML = """\
# my project: keep k small, the corpus is tiny
[retrieval]
k = 2   # tuned by hand
mode = 'bm25'

[models]
embedder = "hashing"     # no torch here
threads = 1
"""


def test_editing_keeps_the_users_comments_and_layout_and_changes_only_the_named_keys(tmp_path: Path):
    from ragft.workspace import CONFIG_FILE, STATE_DIR, Workspace

    (tmp_path / CONFIG_FILE).write_text(USER_TOML)
    (tmp_path / STATE_DIR).mkdir()
    ws = Workspace.open(tmp_path).with_settings({"k": 3, "threads": 2})
    assert (tmp_path / CONFIG_FILE).read_text() == USER_TOML.replace("k = 2 ", "k = 3 ").replace("threads = 1", "threads = 2")
    assert (ws.config.retrieval.k, ws.config.retrieval.mode, ws.config.models.threads) == (3, "bm25", 2)


def test_editing_a_setting_the_file_leaves_out_adds_it_to_its_section(tmp_path: Path):
    from ragft.workspace import CONFIG_FILE, STATE_DIR, Workspace

    (tmp_path / CONFIG_FILE).write_text(USER_TOML)
    (tmp_path / STATE_DIR).mkdir()
    ws = Workspace.open(tmp_path).with_settings({"candidates": 8, "training.max_chunks": 0}, note="added")
    text = (tmp_path / CONFIG_FILE).read_text()
    assert text.startswith(USER_TOML.split("\n\n")[0] + "\ncandidates = 8  # added\n") and text.endswith(
        "[training]\nmax_chunks = 0  # added\n"
    )
    assert (ws.config.retrieval.candidates, ws.config.training.max_chunks, ws.config.retrieval.k) == (8, 0, 2)


def test_a_retired_setting_in_an_older_ragft_toml_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="'rerank' is no longer used"):
        config = config_from_dict({"retrieval": {"rerank": False, "k": 3}})
    assert config.retrieval.k == 3


def test_models_checks_both_the_served_adapter_name_and_the_device() -> None:
    with pytest.raises(ConfigError, match=r"openai_adapter_model = 'tuned' must contain \"\{adapter\}\""):
        config_from_dict({"models": {"openai_adapter_model": "tuned"}})
    with pytest.raises(ConfigError, match=r"device = 'gpu' is not known"):
        config_from_dict({"models": {"device": "gpu"}})
    models = config_from_dict({"models": {"openai_adapter_model": "acme-{adapter}", "device": "cuda:1"}}).models
    assert (models.openai_adapter_model, models.device) == ("acme-{adapter}", "cuda:1")
