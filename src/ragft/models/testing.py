"""Small stand-ins for tests: a scripted fake `Generator` and tiny random models built in seconds.

`ScriptedGenerator` lets tests of systems and evaluation run without any model. The tiny models
exercise the real backends end to end: `make_tiny_hf_model` writes a 2-layer Qwen2 with a
byte-level BPE tokenizer trained on a few sentences, and `make_tiny_gguf` converts it to a GGUF
(F32, same tokenizer) that llama.cpp loads, so both engines can be compared on the same weights.
Their output is gibberish by design; what they prove is plumbing, timing and determinism.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ragft.models.base import SCORE_MAX_TOKENS, DecodingSettings, Generation, TokenCallback, TokenScores
from ragft.types import ChatMessage

# Qwen2's ChatML layout, short enough to read.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TINY_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_TINY_TEXT = [
    "The quarterly report is due on the first Monday of April.",
    "Refunds are processed within 14 days after the request is approved.",
    "The office in Lisbon opens at 9:00 and closes at 18:00.",
    "Passwords must be rotated every 90 days; contact IT support for help.",
    "Question: what is the refund window? Answer: 14 days.",
    "user assistant system context passage document answer question",
]


class ScriptedGenerator:
    """A fake `Generator`: replies with `reply(messages)` (default: echo the last user turn).

    Streams the reply word by word and reports token counts as word counts, with small,
    ordered, made-up timings, so code that consumes a `Generation` can be tested instantly.
    """

    def __init__(
        self,
        reply: Callable[[Sequence[ChatMessage]], str] | None = None,
        name: str = "scripted",
        *,
        first_token_top: Callable[[Sequence[ChatMessage]], tuple[tuple[str, float], ...]] | None = None,
    ) -> None:
        self.name = name
        self.reply = reply or (lambda messages: next((m["content"] for m in reversed(messages) if m["role"] == "user"), ""))
        self.first_token_top = first_token_top  # scripted first-token candidates (None: report none, as openai does)
        self.calls: list[list[ChatMessage]] = []

    def warm_up(self) -> None:
        """Nothing to load."""

    def generate(self, messages: Sequence[ChatMessage], settings: DecodingSettings, on_token: TokenCallback | None = None) -> Generation:
        """Return the scripted reply, cut to `max_new_tokens` words and at the first stop string."""
        start = time.perf_counter()
        self.calls.append(list(messages))
        words = self.reply(messages).split(" ")[: settings.max_new_tokens]
        text = " ".join(words)
        for s in settings.stop:
            if s and s in text:
                text = text[: text.index(s)]
        pieces = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))] if text else []
        for piece in pieces:
            if on_token is not None:
                on_token(piece)
        total = max(time.perf_counter() - start, 2e-6)
        return Generation(
            text=text,
            prompt_tokens=sum(self.count_tokens(m["content"]) for m in messages),
            completion_tokens=len(pieces),
            prefill_s=total / 2,
            time_to_first_token_s=total / 2,
            total_s=total,
            model=self.name,
            first_token_top=self.first_token_top(messages) if self.first_token_top else (),
        )

    def count_tokens(self, text: str) -> int:
        """Whitespace words."""
        return len(text.split())


class ScriptedScorer:
    """A fake `Scorer`: each whitespace word after the first is a token of log-probability `logprob(text)`."""

    def __init__(self, logprob: Callable[[str], float], name: str = "scripted") -> None:
        self.name = name
        self.logprob = logprob

    def score(self, text: str, *, max_tokens: int = SCORE_MAX_TOKENS) -> TokenScores:
        """One scored token per word after the first, of the first `max_tokens` words."""
        words = text.split()[:max_tokens]
        return TokenScores(tuple(self.logprob(text) for _ in words[1:]), model=self.name)


def make_tiny_hf_model(directory: Path, *, seed: int = 0, vocab_merges: int = 200) -> Path:
    """Write a random 2-layer Qwen2 causal LM with a byte-level BPE tokenizer and chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    directory.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256 + len(TINY_SPECIAL_TOKENS) + vocab_merges,
        special_tokens=list(TINY_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_TINY_TEXT, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=TINY_CHAT_TEMPLATE,
    )
    tokenizer.save_pretrained(directory)

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,  # "<|endoftext|>", set above
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    # Larger random weights, so the next token is rarely a near-tie; and zero output rows for
    # special tokens and lone non-ASCII bytes, so greedy text is valid UTF-8 and never ends early.
    silent = [i for i in range(len(tokenizer)) if i in tokenizer.all_special_ids or "\ufffd" in tokenizer.decode([i])]
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0.0, 0.25)
        model.lm_head.weight[silent] = 0.0
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def make_tiny_gguf(hf_dir: Path, path: Path, *, chat_template: bool = True) -> Path:
    """Convert a `make_tiny_hf_model` directory to an F32 GGUF (arch qwen2) that llama.cpp loads.

    `chat_template=False` leaves the template out, like a base model's GGUF.
    """
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((hf_dir / "config.json").read_text())
    tok = json.loads((hf_dir / "tokenizer.json").read_text())
    vocab: dict[str, int] = dict(tok["model"]["vocab"])
    for added in tok.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    specials = set(TINY_SPECIAL_TOKENS)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    weights = load_file(str(hf_dir / "model.safetensors"))

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_name("tiny-random-qwen2")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    rope_theta = config.get("rope_theta") or config.get("rope_parameters", {}).get("rope_theta", 10000.0)
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")  # transformers loads the tiny tokenizer as Qwen2Tokenizer: digits split one by one
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t in tokens])
    writer.add_token_merges(merges)
    writer.add_eos_token_id(vocab["<|im_end|>"])
    writer.add_pad_token_id(vocab["<|endoftext|>"])
    writer.add_add_bos_token(False)
    if chat_template:
        writer.add_chat_template(TINY_CHAT_TEMPLATE)
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.k_proj.bias": "attn_k.bias",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.v_proj.bias": "attn_v.bias",
        "self_attn.o_proj.weight": "attn_output.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for i in range(config["num_hidden_layers"]):
        names.update({f"model.layers.{i}.{hf}": f"blk.{i}.{gg}" for hf, gg in per_layer.items()})
    for hf_name, array in weights.items():
        writer.add_tensor(names[hf_name], np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
