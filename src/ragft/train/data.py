"""Turn chat examples into token ids with an answer mask, and pack them into padding-free rows.

The loss is taken on the answer tokens only (and the end-of-turn token, so the model learns to
stop). A text example (no messages: a chunk or its rewrite, continued pretraining) is learned on
every token but its first, which would otherwise be predicted from the previous example in its row. A packed row holds several examples without padding. Their common prompt prefix (the
system prompt and chat markup, often a third of a short example) is computed once: the row is
`prefix, rest_1, rest_2, ...`, each rest positioned right after the prefix and masked so it sees
only the prefix and itself. The result is exact: a packed row's loss equals the sum of its
examples' losses computed one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragft.types import ChatMessage


@dataclass(frozen=True)
class ChatExample:
    """A prompt (chat messages, without the reply) and the reply to learn; no messages = plain text, all learned."""

    messages: Sequence[ChatMessage]
    answer: str
    group: str = ""  # a text example's source chunk: two of one group never share a batch (see epoch_batches)

    @property
    def is_text(self) -> bool:
        return not self.messages


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of prompt + answer; `answer_start` is where the learned tokens begin."""

    input_ids: tuple[int, ...]
    answer_start: int

    @property
    def answer_tokens(self) -> int:
        return len(self.input_ids) - self.answer_start


@dataclass(frozen=True)
class PackedRow:
    """Several examples in one row: ids, positions, segments, and which next tokens are learned."""

    input_ids: list[int]
    position_ids: list[int]
    labels: list[int]  # labels[i] = the token at i (answer tokens) or -100; shifted when the loss is taken
    segments: list[int]  # 0 = the shared prefix, i = the rest of example i (1-based)

    @property
    def tokens(self) -> int:
        return len(self.input_ids)

    def attention_mask(self, dtype: Any = None) -> Any:
        """Additive 4D mask (1, 1, T, T) in `dtype` (default fp32): causal, the prefix visible to all, examples blind to each other."""
        import torch

        dtype = dtype or torch.float32
        seg = torch.tensor(self.segments)
        causal = torch.ones(len(seg), len(seg), dtype=torch.bool).tril()
        visible = causal & ((seg[:, None] == seg[None, :]) | (seg[None, :] == 0))
        mask = torch.zeros(visible.shape, dtype=dtype).masked_fill_(~visible, torch.finfo(dtype).min)
        return mask[None, None]


def encode_example(tokenizer: Any, example: ChatExample, max_length_tokens: int) -> EncodedExample:
    """Encode with the model's chat template (plain text: no template, cut to `max_length_tokens`); an over-long prompt is cut from its left."""
    if example.is_text:
        ids = tokenizer(example.answer.strip() + (tokenizer.eos_token or ""), add_special_tokens=False)["input_ids"]
        return EncodedExample(tuple(ids[:max_length_tokens]), 1)
    turns = [{"role": m["role"], "content": m["content"]} for m in example.messages]
    prompt = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    end_of_turn = tokenizer.eos_token or ""
    answer_ids = tokenizer(example.answer.strip() + end_of_turn, add_special_tokens=False)["input_ids"]
    answer_ids = answer_ids[: max(1, max_length_tokens // 2)]
    room = max_length_tokens - len(answer_ids)
    if len(prompt_ids) > room:
        prompt_ids = prompt_ids[len(prompt_ids) - room :]
    return EncodedExample(tuple(prompt_ids) + tuple(answer_ids), len(prompt_ids))


def pack(examples: Sequence[EncodedExample], *, share_prefix: bool = True) -> PackedRow:
    """One row holding every example in order, the common prompt prefix once, no padding."""
    shared = _common_prefix(examples) if share_prefix and len(examples) > 1 else 0
    ids = list(examples[0].input_ids[:shared])
    positions = list(range(shared))
    labels = [-100] * shared
    segments = [0] * shared
    for number, ex in enumerate(examples, start=1):
        rest = ex.input_ids[shared:]
        ids.extend(rest)
        positions.extend(range(shared, len(ex.input_ids)))
        labels.extend([-100] * (ex.answer_start - shared) + list(ex.input_ids[ex.answer_start :]))
        segments.extend([number] * len(rest))
    return PackedRow(ids, positions, labels, segments)


def pack_rows(examples: Sequence[EncodedExample], max_row_tokens: int) -> list[PackedRow]:
    """Examples packed greedily into rows of at most `max_row_tokens` (one example may exceed it alone).

    Rows are capped because attention over a row costs its length squared, masked or not.
    """
    rows: list[list[EncodedExample]] = [[]]
    for ex in examples:
        if rows[-1] and sum(len(e.input_ids) for e in rows[-1]) + len(ex.input_ids) > max_row_tokens:
            rows.append([])
        rows[-1].append(ex)
    return [pack(r) for r in rows if r]


def _common_prefix(examples: Sequence[EncodedExample]) -> int:
    """Length of the prompt prefix all examples share (never reaching into an answer, nor a whole prompt)."""
    limit = min(ex.answer_start for ex in examples) - 1
    first = examples[0].input_ids
    length = 0
    while length < limit and all(ex.input_ids[length] == first[length] for ex in examples):
        length += 1
    return length


def batches(order: Sequence[int], batch_size: int) -> list[list[int]]:
    """`order` cut into consecutive batches of `batch_size` (the last may be shorter)."""
    return [list(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]


def epoch_batches(examples: Sequence[ChatExample], batch_size: int, seed: int) -> list[list[int]]:
    """One epoch's batches of example indices: question/answer examples first, then text, each part shuffled by `seed`.

    QA before documents follows pre-instruction-tuning (Jiang et al. 2024). Text examples are
    dealt round-robin across their chunks (`group`) and a batch never holds two of one chunk, so
    a chunk's variants (raw, rewrites) are never packed into one row or learned in one step.
    """
    import random

    rng = random.Random(seed)
    qa = [i for i, ex in enumerate(examples) if not ex.is_text]
    rng.shuffle(qa)
    by_group: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        if ex.is_text:
            by_group.setdefault(ex.group or f"#{i}", []).append(i)
    groups = list(by_group.values())
    rng.shuffle(groups)
    for members in groups:
        rng.shuffle(members)
    dealt = [g[depth] for depth in range(max((len(g) for g in groups), default=0)) for g in groups if depth < len(g)]
    out = batches(qa, batch_size)
    current: list[int] = []
    for i in dealt:
        if len(current) == batch_size or any(examples[j].group == examples[i].group for j in current if examples[i].group):
            out.append(current)
            current = []
        current.append(i)
    if current:
        out.append(current)
    return out
