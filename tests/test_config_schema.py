"""The settings schema, checked field by field: a new field is covered here by being declared.

Every field has a doc, the generated template is valid TOML that loads back to exactly the
defaults, and every type, choice and range a field declares is enforced when ragft.toml loads.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import Field, fields
from pathlib import Path
from typing import Any

import pytest

from ragft.config import DEFAULT_TOML, Config, ConfigError, config_from_dict, load_config, spec
from ragft.config.schema import checked, sections

FIELDS = [(name, f) for name, section in sections(Config).items() for f in fields(section)]
IDS = [f"{name}.{f.name}" for name, f in FIELDS]
CHOICES = [(name, f) for name, f in FIELDS if spec(f).choices]
RANGED = [(name, f) for name, f in FIELDS if spec(f).range is not None]


def test_the_template_is_valid_toml_and_loads_back_to_exactly_the_defaults() -> None:
    parsed = tomllib.loads(DEFAULT_TOML)
    assert config_from_dict(parsed) == Config()
    assert list(parsed) == list(sections(Config))
    for name, section in sections(Config).items():
        assert list(parsed[name]) == [f.name for f in fields(section)], f"[{name}] lists every setting, in order"


@pytest.mark.parametrize(("section", "f"), FIELDS, ids=IDS)
def test_every_setting_has_a_doc_that_the_template_prints_above_it(section: str, f: Field[Any]) -> None:
    doc = spec(f).doc
    assert len(doc.split()) >= 3 and (doc[0].isupper() or doc[0] == '"'), f"{section}.{f.name} needs a doc, a sentence"
    comment = re.search(rf"^\[{section}\]\n(?:.*\n)*?((?:# .*\n)+){f.name} = ", DEFAULT_TOML, re.MULTILINE)
    assert comment and " ".join(line[2:] for line in comment.group(1).splitlines()) == doc


@pytest.mark.parametrize("section", list(sections(Config)))
def test_every_section_has_a_doc(section: str) -> None:
    assert (sections(Config)[section].__doc__ or "").strip()


@pytest.mark.parametrize(("section", "f"), CHOICES, ids=[f"{s}.{f.name}" for s, f in CHOICES])
def test_every_choice_is_named_in_its_doc_accepted_and_nothing_else_is(section: str, f: Field[Any]) -> None:
    choices = spec(f).choices
    for choice in choices:
        assert f'"{choice}"' in spec(f).doc, f"the doc of {section}.{f.name} explains {choice!r}"
        assert getattr(getattr(config_from_dict({section: {f.name: choice}}), section), f.name) == choice
    listed = re.escape(", ".join(choices))
    with pytest.raises(ConfigError, match=rf"\[{section}\] {f.name} = 'bogus' is not known; choose one of: {listed}"):
        config_from_dict({section: {f.name: "bogus"}})


def _just_outside(f: Field[Any]) -> list[float]:
    """Values one step beyond each end of the field's range (the end itself when it is open)."""
    bounds, step = spec(f).range, 1 if type(f.default) is int or isinstance(f.default, tuple) else 0.01
    assert bounds is not None
    low = [] if bounds.low is None else [bounds.low if bounds.low_open else bounds.low - step]
    high = [] if bounds.high is None else [bounds.high if bounds.high_open else bounds.high + step]
    return [*low, *high]


@pytest.mark.parametrize(("section", "f"), RANGED, ids=[f"{s}.{f.name}" for s, f in RANGED])
def test_every_range_is_enforced_and_its_closed_ends_are_allowed(section: str, f: Field[Any]) -> None:
    bounds, many = spec(f).range, isinstance(f.default, tuple)
    assert bounds is not None and f.default is not None
    for bad in _just_outside(f):
        value = [int(bad)] if many else (int(bad) if type(f.default) is int else bad)
        with pytest.raises(ConfigError, match=rf"\[{section}\] {f.name} = {re.escape(repr(value))} is out of range; allowed: "):
            config_from_dict({section: {f.name: value}})
    for end, is_open in ((bounds.low, bounds.low_open), (bounds.high, bounds.high_open)):
        if end is not None and not is_open:
            value = [int(end)] if many else type(f.default)(end)
            assert checked(f, value, f"[{section}]") == (tuple(value) if many else value)


WRONG_TYPES: dict[type, list[Any]] = {
    bool: [1, "true"],
    int: ["4", 4.5, True],
    float: ["0.5", False],
    str: [3, True, ["a"]],
    tuple: [3, ["1"], [1.5], [True]],
}


@pytest.mark.parametrize(("section", "f"), FIELDS, ids=IDS)
def test_every_setting_refuses_a_value_of_the_wrong_type(section: str, f: Field[Any]) -> None:
    for wrong in WRONG_TYPES[type(f.default)]:
        with pytest.raises(
            ConfigError, match=rf"\[{section}\] {f.name} = .* must be (true or false|a whole number|a number|a string|a list of)"
        ):
            config_from_dict({section: {f.name: wrong}})


def test_the_choices_consumers_branch_on_are_the_schemas() -> None:
    from ragft.evaluate.requirements import UPDATE_INTERVAL_S
    from ragft.models.factory import GENERATOR_BACKENDS
    from ragft.retrieval.retriever import MODES
    from ragft.synth.training_set import SYNTHESIS_MODES

    def choices(section: str, key: str) -> set[Any]:
        return set(spec(next(f for f in fields(sections(Config)[section]) if f.name == key)).choices)

    assert choices("retrieval", "mode") == set(MODES)
    assert choices("models", "generator_backend") == set(GENERATOR_BACKENDS)
    assert choices("training", "synthesis") == set(SYNTHESIS_MODES)
    assert choices("requirements", "update_frequency") == set(UPDATE_INTERVAL_S)


def test_a_bad_retrieval_mode_is_refused_when_ragft_toml_loads(tmp_path: Path) -> None:
    path = tmp_path / "ragft.toml"
    path.write_text(DEFAULT_TOML.replace('mode = "hybrid"', 'mode = "hybird"'), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: [retrieval] mode = 'hybird' is not known; choose one of: hybrid, bm25, dense"


def test_a_bad_setting_is_one_clear_line_from_the_cli_not_a_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ragft.cli import app
    from ragft.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    config = ws.root / "ragft.toml"
    config.write_text(config.read_text().replace('mode = "hybrid"', 'mode = "fancy"'), encoding="utf-8")
    result = CliRunner().invoke(app, ["corpus", "log", "--workspace", str(ws.root)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "[retrieval] mode = 'fancy' is not known; choose one of: hybrid, bm25, dense" in " ".join(result.output.split())
