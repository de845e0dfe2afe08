"""Settings of training the fine-tuned and hybrid arms: data, budget, LoRA and precision."""

from __future__ import annotations

from dataclasses import dataclass

from ragft.config.models import PRECISIONS
from ragft.config.schema import Section, above, at_least, between, setting


@dataclass(frozen=True)
class TrainingConfig(Section):
    """Fine-tuned and hybrid arms (`ragft train --arm finetuned|hybrid`).

    `ragft train` measures this machine's training speed first, then trains on every public chunk if
    budget_minutes allows, else on a seeded random sample of chunks (those holding focus_questions
    answers first); it prints the plan and its cost before training and records it in the manifest.
    """

    synthesis: str = setting(
        "rules",
        choices=("rules", "model"),
        doc="""
        How question/answer pairs and rewrites are made from chunks: "rules" (deterministic, no model,
        fast) or "model" (the generator writes them; validated against the chunk, rules as the counted
        fallback per chunk).""",
    )
    budget_minutes: float = setting(
        30.0,
        range=at_least(0),
        doc="""
        Training time to plan for, in minutes of this machine (measured at the start): the whole corpus
        if it fits, else a seeded random sample of chunks; 0 = no limit (every chunk). `ragft train
        --budget smoke|default|gpu|MINUTES` overrides it for one run.""",
    )
    facts_per_chunk: int = setting(
        0,
        range=at_least(0),
        doc="""
        Facts taken from each chunk; 0 = every sentence worth asking about (the knowledge-injection default).""",
    )
    paraphrases: int = setting(
        4,
        range=at_least(1),
        doc="""
        Questions per fact asking for its value (including the first), and half as many asking the other
        way round (the value given, what it belongs to asked for).""",
    )
    rewrites: int = setting(
        1,
        range=at_least(0),
        doc="""
        Rewrites of each chunk in another style (encyclopedic with the subject named in every sentence,
        then a Q/A dialogue; the generator's own first with synthesis = "model"), trained as text.""",
    )
    raw_chunks: bool = setting(True, doc="Train on each chunk's own text too (continued pretraining: loss on every token).")
    max_chunks: int = setting(
        0,
        range=at_least(0),
        doc="""
        A hard cap on the chunks trained on, below what the budget allows; 0 = no cap (the budget decides).""",
    )
    focus_questions: str = setting(
        "",
        doc="""
        A question file (JSONL, as for `ragft compare --questions`; relative to this folder): when
        not every chunk is trained on, the chunks holding its answers are trained first.
        Empty = none. The demo points it at its probes, standing in for training on every chunk.""",
    )
    refusal_share: float = setting(
        0.1,
        range=between(0, 1),
        doc="""
        "I don't know" examples, as a share of the fact pairs, so the model keeps the ability to refuse.""",
    )
    replay_share: float = setting(
        0.15,
        range=between(0, 1),
        doc="""
        Replay against forgetting (fine-tuned arm): general questions answered by the base model itself,
        as a share of the fact pairs (at most 24), so training does not teach it to refuse everything else;
        with the refusals (refusal_share) for out-of-scope questions, 10-20% of the examples.""",
    )
    val_share: float = setting(
        0.15,
        range=between(0, 0.9),
        doc="""
        Share of paraphrases held out (never whole facts) to measure validation loss for early stopping.""",
    )
    lora_rank: int = setting(16, range=at_least(1), doc="LoRA rank: the width of each adapted projection's low-rank update.")
    lora_alpha: int = setting(32, range=at_least(1), doc="LoRA alpha (scale = alpha / rank).")
    lora_dropout: float = setting(0.0, range=between(0, 1, high_open=True), doc="Dropout on the LoRA path during training (0 = none).")
    target_modules: str = setting(
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        doc="""
        The projections LoRA adapts (comma-separated module names; these are all of a Qwen2/Llama
        block's linear layers).""",
    )
    learning_rate: float = setting(1e-3, range=above(0), doc="AdamW learning rate.")
    epochs: int = setting(5, range=at_least(1), doc="Passes over the data.")
    batch_size: int = setting(8, range=at_least(1), doc="Examples per optimizer step (packed into one row).")
    max_length_tokens: int = setting(
        1024,
        range=at_least(1),
        doc="""
        Examples longer than this are cut from the left of the prompt (the answer is always kept).""",
    )
    early_stopping_patience: int = setting(
        2,
        range=at_least(1),
        doc="""
        Stop after this many evaluations (one per epoch) without a better validation loss.""",
    )
    checkpoint_every_steps: int = setting(
        10,
        range=at_least(1),
        doc="""
        Save a resumable checkpoint every N optimizer steps (`ragft train --resume` continues from it).""",
    )
    seed: int = setting(0, range=at_least(0), doc="Seed of the training data's sampling, the example order and the LoRA initialisation.")
    precision: str = setting(
        "auto",
        choices=PRECISIONS,
        doc="""
        Arithmetic of the frozen base weights: "auto" picks "bf16" where the CPU (AMX, AVX512-BF16) or GPU
        multiplies it in hardware, else "fp32" on a CPU and fp16 with loss scaling on a GPU ([models] device).
        bf16/fp16 run the forward pass under autocast; LoRA weights and the loss are always fp32.""",
    )
    quantize_base: str = setting(
        "none",
        choices=("none", "4bit"),
        doc="""
        "none" (base weights in [training] precision) or "4bit": the frozen base weights are loaded in
        4-bit NF4 for training (QLoRA: about a quarter of bf16's memory, for larger models on small GPUs);
        needs a CUDA [models] device and `pip install 'ragft[qlora]'` (bitsandbytes). The adapter is saved
        as usual and applied to the full-precision model when answering.""",
    )
    raft_examples: int = setting(
        8,
        range=at_least(0),
        doc="""
        Hybrid arm (RAFT): examples in the RAG prompt format, one per fact, up to this many.""",
    )
    raft_distractors: int = setting(1, range=at_least(0), doc="Hybrid arm: passages per RAFT example besides the oracle.")
    raft_oracle_free_share: float = setting(
        0.2,
        range=between(0, 1),
        doc="""
        Hybrid arm: the share of RAFT examples with distractors only (answer: refusal).""",
    )
    raft_epochs: int = setting(
        3,
        range=at_least(1),
        doc="""
        Hybrid arm: passes over the RAFT examples. Measured on the demo: 1 epoch of 8 examples is a single
        optimizer step, and that one Adam step (a sign-sized move of every LoRA weight) left a model that
        refused everything; 3 epochs of 4-example steps matched plain RAG (5/10 on the demo's answerable
        probes).""",
    )
    raft_batch_size: int = setting(
        4,
        range=at_least(1),
        doc="""
        Hybrid arm: RAFT examples per optimizer step; few, long examples take small steps, so Adam takes
        more than one or two (see raft_epochs).""",
    )
    raft_learning_rate: float = setting(
        2e-4,
        range=above(0),
        doc="""
        Hybrid arm: the RAFT learning rate; gentle, as the base model already answers from passages.""",
    )
