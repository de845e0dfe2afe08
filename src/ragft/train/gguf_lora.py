"""Convert a PEFT LoRA adapter directory to a GGUF LoRA adapter that llama.cpp loads (`lora_path`).

llama.cpp reads `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha`, and
for every adapted weight `W` two tensors `<gguf name of W>.lora_a` (rank x in) and `.lora_b`
(out x rank); it applies `W x + (alpha / rank) * B A x`, exactly as PEFT does. Tensor names follow
llama.cpp's names for the base model's weights (the same map `make_tiny_gguf` uses).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ragft.errors import RagftError

# Hugging Face module name (inside a decoder layer) -> llama.cpp tensor name; Llama-style models.
_LAYER_MODULES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_ARCHITECTURES = {"qwen2": "qwen2", "llama": "llama", "mistral": "llama", "qwen3": "qwen3"}
_KEY = re.compile(r"(?:^|\.)layers\.(\d+)\.(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$")


class AdapterConversionError(RagftError, ValueError):
    """The PEFT adapter cannot be expressed as a llama.cpp GGUF LoRA."""


def convert_peft_to_gguf(peft_dir: Path, base_config: dict, output: Path) -> Path:
    """Write `output` (a GGUF LoRA) from the adapter in `peft_dir`, for a base with `base_config` (its config.json)."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    adapter_config = json.loads((peft_dir / "adapter_config.json").read_text())
    model_type = base_config.get("model_type", "")
    if model_type not in _ARCHITECTURES:
        raise AdapterConversionError(
            f"{peft_dir}: converting adapters for model type {model_type!r} is not supported; "
            f'supported: {", ".join(_ARCHITECTURES)}. Serve it with generator_backend = "transformers" instead'
        )
    if adapter_config.get("use_dora") or adapter_config.get("use_rslora"):
        raise AdapterConversionError(f"{peft_dir}: DoRA/rsLoRA adapters cannot be converted; train a plain LoRA")
    weights = load_file(str(peft_dir / "adapter_model.safetensors"))
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, array in weights.items():
        match = _KEY.search(key)
        if not match or match.group(2) not in _LAYER_MODULES:
            raise AdapterConversionError(
                f"{peft_dir}: adapter tensor {key!r} targets a module llama.cpp adapters cannot address; "
                f"use target_modules among: {', '.join(m.split('.')[-1] for m in _LAYER_MODULES)}"
            )
        name = f"blk.{match.group(1)}.{_LAYER_MODULES[match.group(2)]}.weight"
        pairs.setdefault(name, {})[match.group(3)] = array
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), _ARCHITECTURES[model_type])
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(adapter_config["lora_alpha"]))
    for name in sorted(pairs):
        if set(pairs[name]) != {"A", "B"}:
            raise AdapterConversionError(f"{peft_dir}: {name} has only lora_{''.join(pairs[name])}; the adapter is incomplete")
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(pairs[name]["A"], dtype=np.float32))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(pairs[name]["B"], dtype=np.float32))
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(output)
    return output
