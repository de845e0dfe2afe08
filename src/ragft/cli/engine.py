"""`ragft engine-command vllm|llama-server`: the command that serves this workspace's arms from a real engine.

Every arm then runs through one OpenAI-compatible server, an adapter chosen by the request's model
name: the plain model as `base`, each trained adapter under `[models] openai_adapter_model` (by
default its own name, `finetuned`, `hybrid`). The plan names the files each engine loads:

- vLLM (`vllm serve`): the base model's Hugging Face directory and each adapter's PEFT folder
  (`--enable-lora --lora-modules finetuned=DIR ...`); `--generation-config vllm` keeps the model's
  own sampling defaults (Qwen's repetition penalty) out, so every arm decodes as ragft asks.
- llama.cpp (`python -m llama_cpp.server`, from `pip install "llama-cpp-python[server]"`): a config
  file written to `.ragft/engine/`, one model alias per arm on the base GGUF, each adapter's GGUF
  LoRA as that alias's `lora_path`. That server answers one request at a time and loads the alias
  asked for (switching arms reloads the model), which an evaluation run arm by arm does rarely.

It also prints the ragft.toml lines that point ragft at the server.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from ragft.cli.common import WorkspaceOption, app, open_workspace, user_errors
from ragft.config import ConfigError
from ragft.files import write_atomic
from ragft.models.factory import resolve_backend, resolve_threads, served_adapter_model
from ragft.models.requantize import served_gguf_path
from ragft.train.adapter_files import GGUF_FILE, PEFT_DIR
from ragft.train.manifest import ADAPTERS, MANIFEST, AdapterManifest, adapter_dir, adapter_status, resolve_base_model
from ragft.workspace import Workspace

ENGINES = ("vllm", "llama-server")
BASE_ALIAS = "base"  # the served name of the plain model: [models] generator once ragft points at the server
LLAMA_SERVER_CONFIG = Path("engine") / "llama_cpp_server.json"  # under .ragft/
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM's --max-lora-rank accepts
DEFAULT_PORTS = {"vllm": 8000, "llama-server": 8080}


@dataclass(frozen=True)
class EnginePlan:
    """How to serve a workspace's arms from one engine: its command line, config and ragft's settings for it."""

    engine: str
    argv: list[str]
    base_url: str
    served: dict[str, str]  # served model name -> what it is (the base model, or an adapter's files)
    settings: dict[str, Any]  # ragft.toml keys that point ragft at the server
    config_path: Path | None = None  # llama-server: the config file the command reads
    config: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # adapters left out, and why


def engine_plan(
    ws: Workspace,
    engine: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    model: str | None = None,
    first_token_candidates: bool = True,
) -> EnginePlan:
    """The plan for serving `ws`'s base model and trained adapters from `engine` (nothing is written or started).

    `model` overrides `[models] generator` as the base model (needed once ragft already points at a
    server, since then that setting is a served name). `first_token_candidates=False` starts
    llama-cpp-python's server without `logits_all`: prompts prefill faster (1.4x in a probe), and RAG's
    refusal probability is not reported. Raises ConfigError for an unknown engine or a base model
    the engine cannot load.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    local = _local_models_workspace(ws, model)
    port = port or DEFAULT_PORTS[engine]
    adapters, notes = _servable_adapters(local)
    base_url = f"http://{host}:{port}/v1"
    concurrency = 16 if engine == "vllm" else 1  # llama_cpp.server answers one request at a time
    settings = {
        "generator_backend": "openai",
        "openai_base_url": base_url,
        "generator": BASE_ALIAS,
        "openai_adapter_model": ws.config.models.openai_adapter_model,
        "concurrency": concurrency,
    }
    if engine == "vllm":
        return _vllm_plan(local, adapters, host=host, port=port, base_url=base_url, settings=settings, notes=notes)
    plan = _llama_server_plan(local, adapters, host=host, port=port, base_url=base_url, settings=settings, notes=notes)
    if not first_token_candidates and plan.config is not None:
        plan.config["models"] = [{**entry, "logits_all": False} for entry in plan.config["models"]]
        plan.notes.append("logits_all off: RAG answers carry no refusal probability (no first-token candidates)")
    return plan


def _local_models_workspace(ws: Workspace, model: str | None) -> Workspace:
    """`ws` with `[models] generator` naming local weights (from `model` when given)."""
    models = ws.config.models
    if model is not None:
        backend = "llama_cpp" if model.endswith(".gguf") or model == "default" else "transformers"
        return replace(ws, config=replace(ws.config, models=replace(models, generator=model, generator_backend=backend)))
    if resolve_backend(models) == "openai":
        raise ConfigError(
            f'[models] generator_backend = "openai": generator = {models.generator!r} is a served name, not weights an engine '
            "can load; pass --model with the base model (a .gguf for llama-server, a model directory for vllm)"
        )
    return ws


def _servable_adapters(ws: Workspace) -> tuple[dict[str, Path], list[str]]:
    """Trained adapters for this base model (name -> folder), and a note for each one left out."""
    base = resolve_base_model(ws)
    adapters: dict[str, Path] = {}
    notes: list[str] = []
    for adapter in ADAPTERS:
        status = adapter_status(ws, adapter, base)
        if status.trained and status.base_matches:
            adapters[adapter] = adapter_dir(ws, adapter)
            if status.stale:
                notes.append(status.message)
        else:
            notes.append(f"{adapter} left out: {status.message}")
    return adapters, notes


def _llama_server_plan(
    ws: Workspace, adapters: dict[str, Path], *, host: str, port: int, base_url: str, settings: dict[str, Any], notes: list[str]
) -> EnginePlan:
    base = resolve_base_model(ws)
    if base.gguf is None:
        raise ConfigError(
            f"[models] generator = {ws.config.models.generator!r} has no GGUF file for llama.cpp: "
            "use `ragft engine-command vllm`, or set generator to the .gguf converted from it"
        )
    models = ws.config.models
    gguf = served_gguf_path(base.gguf, models.default_gguf_type) if base.gguf == "default" else Path(base.gguf)
    common = {
        "model": str(gguf),
        "n_ctx": models.context_window_tokens,
        "n_threads": resolve_threads(models.threads),
        "logits_all": True,  # the first token's candidates (the refusal probability), as the local engine reports them
        "verbose": False,
    }
    entries = [{**common, "model_alias": BASE_ALIAS}]
    served = {BASE_ALIAS: str(gguf)}
    for adapter, directory in adapters.items():
        name = served_adapter_model(models, adapter)
        entries.append({**common, "model_alias": name, "lora_path": str(directory / GGUF_FILE)})
        served[name] = str(directory / GGUF_FILE)
    # interrupt_requests off: by default a new request cuts the one being streamed short, without an error.
    config = {"host": host, "port": port, "interrupt_requests": False, "models": entries}
    path = ws.state_dir / LLAMA_SERVER_CONFIG
    argv = [sys.executable, "-m", "llama_cpp.server", "--config_file", str(path)]
    return EnginePlan("llama-server", argv, base_url, served, settings, path, config, notes)


def _vllm_plan(
    ws: Workspace, adapters: dict[str, Path], *, host: str, port: int, base_url: str, settings: dict[str, Any], notes: list[str]
) -> EnginePlan:
    hf_dir = resolve_base_model(ws).hf_dir()  # the default model: converted from its GGUF once (about a minute)
    argv = ["vllm", "serve", str(hf_dir), "--served-model-name", BASE_ALIAS, "--host", host, "--port", str(port)]
    argv += ["--max-model-len", str(ws.config.models.context_window_tokens), "--generation-config", "vllm", "--seed", "0"]
    served = {BASE_ALIAS: str(hf_dir)}
    if adapters:
        modules = {served_adapter_model(ws.config.models, a): d / PEFT_DIR for a, d in adapters.items()}
        argv += ["--enable-lora", "--max-lora-rank", str(_vllm_rank(adapters)), "--max-loras", str(len(modules)), "--lora-modules"]
        argv += [f"{name}={path}" for name, path in modules.items()]
        served.update({name: str(path) for name, path in modules.items()})
    return EnginePlan("vllm", argv, base_url, served, settings, notes=notes)


def _vllm_rank(adapters: dict[str, Path]) -> int:
    """The smallest --max-lora-rank vLLM accepts that holds every adapter's rank."""
    ranks = [int(AdapterManifest.load(d).settings.get("lora_rank", 16)) for d in adapters.values() if (d / MANIFEST).is_file()]
    need = max(ranks, default=16)
    return next((r for r in VLLM_LORA_RANKS if r >= need), need)


def write_engine_config(plan: EnginePlan) -> None:
    """Write the plan's config file (llama-server), atomically; vLLM takes everything on its command line."""
    if plan.config_path is not None and plan.config is not None:
        plan.config_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(plan.config_path, (json.dumps(plan.config, indent=1) + "\n").encode("utf-8"))


def toml_lines(plan: EnginePlan) -> list[str]:
    """The ragft.toml lines that point ragft at the plan's server."""
    s = plan.settings
    return [
        "[models]",
        f'generator_backend = "{s["generator_backend"]}"',
        f'openai_base_url = "{s["openai_base_url"]}"',
        f'generator = "{s["generator"]}"',
        f'openai_adapter_model = "{s["openai_adapter_model"]}"',
        "",
        "[evaluation]",
        f"concurrency = {s['concurrency']}" + ("  # llama_cpp.server answers one request at a time" if plan.engine != "vllm" else ""),
    ]


def shell_line(argv: list[str]) -> str:
    """`argv` as one line a POSIX shell runs as it is."""
    import shlex

    return shlex.join(argv)


@app.command("engine-command")
@user_errors
def engine_command(
    engine: Annotated[
        str, typer.Argument(help="vllm (PEFT adapters, GPU) | llama-server (llama-cpp-python's server, GGUF LoRA, CPU or GPU).")
    ],
    host: Annotated[str, typer.Option("--host", help="Address the server listens on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", help="Port (default: 8000 for vllm, 8080 for llama-server).")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help='Base model when [models] generator is not local weights: a .gguf, "default" or a model directory.'),
    ] = None,
    first_token_candidates: Annotated[
        bool,
        typer.Option(
            "--first-token-candidates/--no-first-token-candidates",
            help="llama-server: keep logits_all on, so RAG's refusal probability is reported; off prefills faster.",
        ),
    ] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Print the command that serves every arm of this workspace from ENGINE, and the ragft.toml lines for it.

    The plain model is served as "base" and each trained adapter under its own name (finetuned,
    hybrid), so `ragft compare` and `ragft serve` with generator_backend = "openai" run every arm
    through that one server. For llama-server the config file is written to .ragft/engine/.
    """
    plan = engine_plan(open_workspace(workspace), engine, host=host, port=port, model=model, first_token_candidates=first_token_candidates)
    write_engine_config(plan)
    typer.echo(f"# serve every arm from {plan.engine} at {plan.base_url}: " + ", ".join(plan.served))
    for note in plan.notes:
        typer.echo(f"# note: {note}")
    if plan.config_path is not None:
        typer.echo(f"# config written to {plan.config_path}:")
        typer.echo("\n".join(f"#   {line}" for line in json.dumps(plan.config, indent=1).splitlines()))
    typer.echo(shell_line(plan.argv))
    typer.echo("\n# then in ragft.toml:")
    typer.echo("\n".join(toml_lines(plan)))
