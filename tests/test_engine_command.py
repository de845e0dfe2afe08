"""`ragft engine-command vllm|llama-server`: the exact command, config and ragft.toml lines for a trained workspace."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("peft")

from ragft.cli.engine import engine_plan
from ragft.workspace import Workspace
from tests.conftest import ragft
from tests.engine_fixtures import shared_trained_workspace


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return shared_trained_workspace(tmp_path_factory)


def _printed(output: str) -> tuple[list[str], dict]:
    """(the command line's words, the ragft.toml lines parsed) from engine-command's output."""
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("#")]
    command = shlex.split(lines[0])
    return command, tomllib.loads("\n".join(lines[1:]))


def test_llama_server_gets_a_config_with_one_alias_per_arm_on_the_base_gguf(trained: Workspace) -> None:
    result = ragft("engine-command", "llama-server", "--port", "8123", "-w", str(trained.root))
    assert result.exit_code == 0, result.output
    command, toml = _printed(result.output)
    config_path = trained.state_dir / "engine" / "llama_cpp_server.json"
    assert command == [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config_path)]
    config = json.loads(config_path.read_text())
    assert (config["host"], config["port"], config["interrupt_requests"]) == ("127.0.0.1", 8123, False)
    models = {m["model_alias"]: m for m in config["models"]}
    assert list(models) == ["base", "finetuned", "hybrid"], "the plain model first: the server loads it at start"
    assert {m["model"] for m in models.values()} == {trained.config.models.generator}
    assert "lora_path" not in models["base"]
    for adapter in ("finetuned", "hybrid"):
        assert models[adapter]["lora_path"] == str(trained.state_dir / "adapters" / adapter / "adapter.gguf")
        assert Path(models[adapter]["lora_path"]).is_file()
    assert all(m["n_ctx"] == 1024 and m["logits_all"] is True for m in models.values())
    assert toml["models"] == {
        "generator_backend": "openai",
        "openai_base_url": "http://127.0.0.1:8123/v1",
        "generator": "base",
        "openai_adapter_model": "{adapter}",
    }
    assert toml["evaluation"] == {"concurrency": 1}


def test_llama_server_without_first_token_candidates_turns_logits_all_off_and_says_what_is_lost(trained: Workspace) -> None:
    result = ragft("engine-command", "llama-server", "--no-first-token-candidates", "-w", str(trained.root))
    assert result.exit_code == 0, result.output
    config = json.loads((trained.state_dir / "engine" / "llama_cpp_server.json").read_text())
    assert [m["logits_all"] for m in config["models"]] == [False, False, False]
    assert "# note: logits_all off: RAG answers carry no refusal probability" in result.output


def test_vllm_gets_the_base_model_directory_and_each_peft_adapter_by_name(trained: Workspace) -> None:
    result = ragft("engine-command", "vllm", "-w", str(trained.root))
    assert result.exit_code == 0, result.output
    command, toml = _printed(result.output)
    hf_dir = Path(trained.config.models.generator).parent
    assert command[:3] == ["vllm", "serve", str(hf_dir)] and (hf_dir / "config.json").is_file()
    assert command[command.index("--served-model-name") + 1] == "base"
    assert command[command.index("--port") + 1] == "8000"
    assert command[command.index("--generation-config") + 1] == "vllm", "the model's own sampling defaults stay out"
    assert "--enable-lora" in command and command[command.index("--max-lora-rank") + 1] == "8", "rank 4 rounds up to vLLM's smallest"
    modules = command[command.index("--lora-modules") + 1 :]
    adapters = trained.state_dir / "adapters"
    assert modules == [f"finetuned={adapters / 'finetuned' / 'peft'}", f"hybrid={adapters / 'hybrid' / 'peft'}"]
    assert all((Path(m.split("=", 1)[1]) / "adapter_config.json").is_file() for m in modules)
    assert toml["models"]["openai_base_url"] == "http://127.0.0.1:8000/v1" and toml["evaluation"] == {"concurrency": 16}


def test_an_untrained_adapter_is_left_out_with_what_to_run(trained: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(trained.root, root)
    shutil.rmtree(root / ".ragft" / "adapters" / "hybrid")
    plan = engine_plan(Workspace.open(root), "vllm")
    assert list(plan.served) == ["base", "finetuned"]
    assert plan.notes == ["hybrid left out: the hybrid arm is not trained yet: run `ragft train --arm hybrid`"]


def test_served_names_follow_openai_adapter_model(trained: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(trained.root, root)
    ws = Workspace.open(root).with_settings({"openai_adapter_model": "acme-{adapter}"})
    plan = engine_plan(ws, "llama-server")
    assert [m["model_alias"] for m in plan.config["models"]] == ["base", "acme-finetuned", "acme-hybrid"]  # type: ignore[index]
    assert plan.settings["openai_adapter_model"] == "acme-{adapter}"


def test_a_workspace_already_pointed_at_a_server_needs_the_base_model_named(trained: Workspace, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(trained.root, root)
    gguf = trained.config.models.generator
    Workspace.open(root).with_settings({"generator_backend": "openai", "generator": "base"})
    refused = ragft("engine-command", "llama-server", "-w", str(root))
    assert refused.exit_code == 2 and "pass --model" in refused.output
    result = ragft("engine-command", "llama-server", "--model", gguf, "-w", str(root))
    assert result.exit_code == 0, result.output
    assert "finetuned" in json.loads((root / ".ragft" / "engine" / "llama_cpp_server.json").read_text())["models"][1]["model_alias"]


def test_unknown_engines_and_help(trained: Workspace) -> None:
    unknown = ragft("engine-command", "tgi", "-w", str(trained.root))
    assert unknown.exit_code == 2 and "choose one of: vllm, llama-server" in unknown.output
    helped = ragft("engine-command", "--help")
    assert helped.exit_code == 0
    assert all(word in helped.output for word in ("vllm", "llama-server", "--port", "--model", "ragft.toml"))
