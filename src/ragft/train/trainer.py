"""LoRA fine-tuning on CPU or one GPU: packed rows, answer-only loss, early stopping, resume.

Why not `transformers.Trainer`: the two things that make CPU training affordable are easier in a
short loop. Packing removes padding; and the language-model head (a 152k-vocabulary matmul) is
applied only at answer positions, in slices, instead of to every token of the prompt.
`benchmarks/bench_train.py` compares this loop with a plain Trainer + PEFT run on the same data.

On a GPU (`[models] device`) the model and every batch live there; bf16 or fp16 base weights run
the forward pass under autocast (fp16 with a GradScaler), and `quantize_base = "4bit"` loads them
in NF4 through bitsandbytes (QLoRA). What ran where is recorded in the metrics, hence the manifest.
"""

from __future__ import annotations

import resource
import shutil
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from ragft.models.device import TrainingArithmetic, training_arithmetic
from ragft.models.runtime import quiet_transformers
from ragft.train.budget import MEASURE_STEPS, measure_tokens_per_s
from ragft.train.checkpoint import load_checkpoint, save_checkpoint
from ragft.train.data import (
    ChatExample,
    EncodedExample,
    PackedRow,
    batches,
    encode_example,
    epoch_batches,
    pack_rows,
)
from ragft.train.heap import return_freed_blocks_promptly

LOGIT_SLICE_ROWS = 128  # answer positions per LM-head slice: bounds the logits held at once (128 x 152k x 4 B = 78 MB)
# A step's examples go into rows up to this long, gradients accumulated: activation memory grows with a row's
# length (and attention with its square), while a shorter row only repeats the shared system prompt more often.
MAX_ROW_TOKENS = 512


@dataclass(frozen=True)
class LoraSettings:
    """What `train_lora` needs from `[training]`, kept apart so benchmarks can vary it."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    learning_rate: float = 5e-4
    epochs: int = 4
    batch_size: int = 8
    max_length_tokens: int = 1024
    early_stopping_patience: int = 2
    checkpoint_every_steps: int = 10
    seed: int = 0
    threads: int = 0  # 0: leave torch's default
    precision: str = "auto"  # base weights in bf16 where the hardware multiplies it natively (see models.device)
    device: str = "auto"  # [models] device: "auto", "cpu", "cuda" or "cuda:N"
    quantize_base: str = "none"  # "4bit": NF4 base weights through bitsandbytes (QLoRA; CUDA only)
    # Recompute each layer's activations in the backward pass instead of keeping them: one more forward pass
    # per step for a fraction of the memory (`bench_train.py memory`, 0.5B fp32, one 512-token row: 6.6 -> 3.7 GB
    # peak, identical loss and gradients, ~40% more CPU time).
    gradient_checkpointing: bool = True

    def arithmetic(self) -> TrainingArithmetic:
        """Device, base-weight dtype and quantization these settings resolve to on this machine."""
        return training_arithmetic(self.precision, self.device, self.quantize_base)


@dataclass
class TrainMetrics:
    """What a training run did and cost."""

    steps: int = 0
    planned_steps: int = 0
    epochs_run: int = 0
    train_examples: int = 0
    val_examples: int = 0
    tokens: int = 0  # prompt + answer tokens of the examples trained on (what tokens/s counts)
    computed_tokens: int = 0  # tokens actually run through the model (shared prefixes once per row)
    answer_tokens: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0  # process CPU time of the loop: steadier than wall time on a shared machine
    tokens_per_s: float = 0.0
    train_loss: list[float] = field(default_factory=list)  # mean per answer token, per epoch
    val_loss: list[float] = field(default_factory=list)
    best_val_loss: float | None = None
    stopped_early: bool = False
    resumed_from_step: int = 0
    peak_rss_mb: float = 0.0
    precision: str = "fp32"  # what the base weights ran in (the compute dtype of 4-bit ones)
    device: str = "cpu"  # where it ran: "cpu" or "cuda:N"
    device_name: str = ""  # the GPU's name, or the CPU's description
    quantization: str = "none"  # "4bit": NF4 base weights (QLoRA)
    loss_scaling: bool = False  # fp16 training with a GradScaler
    planned_tokens: int = 0  # tokens of every planned step (what the exposure fractions are of)
    exposure: list[dict[str, float]] = field(default_factory=list)  # snapshots: fraction, step, tokens, kept (EXPOSURE)


StepCallback = Callable[[int, float], None]
EXPOSURE = (0.25, 0.5)  # shares of the planned training tokens at which `on_exposure` hears the model (the exposure curve)
ExposureCallback = Callable[[float, Any], bool]  # (share of the planned tokens reached, the PEFT model then) -> snapshot kept


def load_lora_model(model_dir: Path, settings: LoraSettings) -> tuple[Any, Any]:
    """(tokenizer, PEFT model) for `model_dir` with fresh fp32 LoRA layers, seeded.

    The model is on `settings.device`; the frozen base weights are in the dtype `settings.precision`
    resolves to there (bf16: half the memory traffic, and hardware bf16 matmuls), or in 4-bit NF4
    with `quantize_base = "4bit"`; PEFT keeps the trained LoRA weights in fp32.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    return_freed_blocks_promptly()  # else glibc keeps ~1 GB of a step's freed activations resident (train/heap.py)
    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    arithmetic = settings.arithmetic()  # raises, naming the setting, for a GPU or a package that is not there
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dtype = torch_dtype(arithmetic.weights)
    if arithmetic.quantization == "4bit":
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **_nf4_kwargs(dtype, arithmetic.device))
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
        model.to(arithmetic.device)  # type: ignore[arg-type]  # @wraps(Module.to) hides the bound self from mypy
    if settings.gradient_checkpointing:  # non-reentrant: gradients reach the LoRA weights without inputs that require them
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )
    return tokenizer, get_peft_model(model, config)


def torch_dtype(precision: str) -> Any:
    """The torch dtype of "bf16", "fp16" or "fp32"."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]


def _nf4_kwargs(compute_dtype: Any, device: str) -> dict[str, Any]:
    """from_pretrained arguments for NF4 base weights on `device` (QLoRA: 4-bit storage, double-quantized scales)."""
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute_dtype
    )
    return {"quantization_config": config, "device_map": {"": device}}


def answer_loss(model: Any, row: PackedRow) -> tuple[Any, int]:
    """(sum of cross-entropy over the row's answer tokens, their count); logits only where needed.

    The row goes to the model's device; bf16 or fp16 base weights run under autocast in their dtype.
    With gradients on, every slice's logits stay in the graph until `backward()`: training uses
    `answer_backward`, which holds one slice at a time.
    """
    import torch

    selected, wanted = _answer_hidden(model, row)
    total = torch.zeros((), dtype=torch.float32, device=wanted.device)
    for s in range(0, len(wanted), LOGIT_SLICE_ROWS):
        total = total + _slice_loss(model, selected[s : s + LOGIT_SLICE_ROWS], wanted[s : s + LOGIT_SLICE_ROWS])
    return total, len(wanted)


def answer_backward(model: Any, row: PackedRow, weight: Callable[[Any], Any]) -> tuple[float, int]:
    """Backpropagate `weight(answer loss)` of one row, the LM head one slice at a time; returns (loss sum, count).

    The gradients equal those of `weight(answer_loss(model, row)[0]).backward()` for a linear
    `weight` (a scale: 1 / the step's answer tokens, the fp16 loss scale), but the graph holds one
    slice's logits and log-softmax (LOGIT_SLICE_ROWS x the 152k vocabulary, ~78 MB each in fp32)
    instead of every slice's: the head runs on a detached copy of the hidden states, each slice's
    loss is backpropagated into it at once, and the model's layers get the summed gradient last.
    A 512-token text row (every token learned) kept ~0.9 GB of head activations the other way.
    """
    selected, wanted = _answer_hidden(model, row)
    if not len(wanted):
        return 0.0, 0
    head_input = selected.detach().requires_grad_()
    total = 0.0
    for s in range(0, len(wanted), LOGIT_SLICE_ROWS):
        loss = _slice_loss(model, head_input[s : s + LOGIT_SLICE_ROWS], wanted[s : s + LOGIT_SLICE_ROWS])
        weight(loss).backward()
        total += float(loss.detach())
    selected.backward(head_input.grad)
    return total, len(wanted)


def _answer_hidden(model: Any, row: PackedRow) -> tuple[Any, Any]:
    """(final hidden states at the positions whose next token is learned, those tokens) on the model's device."""
    import torch

    causal_lm = model.get_base_model()
    device = causal_lm.device
    ids = torch.tensor([row.input_ids], device=device)
    positions = torch.tensor([row.position_ids], device=device)
    mask = row.attention_mask(causal_lm.dtype).to(device)
    with _autocast(causal_lm):
        hidden = causal_lm.model(input_ids=ids, position_ids=positions, attention_mask=mask, use_cache=False).last_hidden_state[0]
    targets = torch.tensor(row.labels[1:], device=device)
    learned = targets != -100
    return hidden[:-1][learned], targets[learned]


def _slice_loss(model: Any, hidden: Any, wanted: Any) -> Any:
    """Summed cross-entropy of the LM head's logits for `hidden` (one slice of answer positions) against `wanted`."""
    import torch.nn.functional as F

    causal_lm = model.get_base_model()
    with _autocast(causal_lm):
        logits = causal_lm.lm_head(hidden)
    return F.cross_entropy(logits.float(), wanted, reduction="sum")


def _autocast(causal_lm: Any) -> Any:
    """Autocast in the base weights' dtype where it is bf16 or fp16; a no-op context for fp32 weights."""
    import torch

    low_precision = causal_lm.dtype in (torch.bfloat16, torch.float16)
    dtype = causal_lm.dtype if low_precision else torch.bfloat16  # unused when fp32 (autocast disabled)
    return torch.autocast(device_type=causal_lm.device.type, dtype=dtype, enabled=low_precision)


def train_lora(
    model_dir: Path,
    train: Sequence[ChatExample],
    val: Sequence[ChatExample],
    settings: LoraSettings,
    work_dir: Path,
    *,
    resume: bool = False,
    progress: Any | None = None,
    on_step: StepCallback | None = None,
    loaded: tuple[Any, Any] | None = None,
    on_exposure: ExposureCallback | None = None,
) -> tuple[Any, TrainMetrics]:
    """Train LoRA layers on `train`, early-stopping on `val`; returns (PEFT model with the best weights, metrics).

    A checkpoint is kept in `work_dir/checkpoint` every `checkpoint_every_steps` steps and at each
    epoch end; with `resume`, training continues from it (same data order, optimizer state).
    `loaded` is (tokenizer, PEFT model) from `load_lora_model` when the caller loaded it already.
    `on_exposure` is called once as the tokens trained first reach each share in EXPOSURE of the
    planned tokens, with the model as it is then (to save a snapshot); each call is recorded in
    the metrics. A resumed run does not call it again for shares reached before the interruption.
    """
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    tokenizer, model = loaded or load_lora_model(model_dir, settings)
    arithmetic = settings.arithmetic()
    # fp16 gradients are scaled up so small ones do not flush to zero; disabled, every call passes through unchanged.
    scaler = torch.amp.GradScaler(arithmetic.device.partition(":")[0], enabled=arithmetic.loss_scaling)
    encoded = [encode_example(tokenizer, ex, settings.max_length_tokens) for ex in train]
    encoded_val = [encode_example(tokenizer, ex, settings.max_length_tokens) for ex in val]
    plans = [epoch_batches(train, settings.batch_size, settings.seed * 1000 + e) for e in range(settings.epochs)]  # same after a resume
    starts = [sum(len(p) for p in plans[:e]) for e in range(settings.epochs)]  # the first step of each epoch
    planned = sum(len(p) for p in plans)
    planned_tokens = sum(len(encoded[i].input_ids) for plan in plans for batch in plan for i in batch)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    warmup = max(1, planned // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.1, 1 - (s - warmup) / max(1, planned - warmup)))
    )
    metrics = TrainMetrics(planned_steps=planned, train_examples=len(encoded), val_examples=len(encoded_val), planned_tokens=planned_tokens)
    state: dict[str, Any] = {"step": 0, "bad_evals": 0, "epoch_loss": 0.0, "epoch_tokens": 0}
    best: dict[str, Any] | None = None
    checkpoint_dir = work_dir / "checkpoint"
    if resume and (saved := load_checkpoint(checkpoint_dir)) is not None:
        tensors, meta = saved
        set_peft_model_state_dict(model, tensors["adapter"])
        optimizer.load_state_dict(tensors["optimizer"])
        scheduler.load_state_dict(tensors["scheduler"])
        if "scaler" in tensors:
            scaler.load_state_dict(tensors["scaler"])
        best = tensors.get("best")
        state.update(meta["state"])
        metrics = TrainMetrics(**{**meta["metrics"], "planned_steps": planned})
        metrics.resumed_from_step = state["step"]
    elif not resume:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)

    def checkpoint() -> None:
        tensors = {
            "adapter": get_peft_model_state_dict(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            **({"best": best} if best is not None else {}),
            **({"scaler": scaler.state_dict()} if scaler.is_enabled() else {}),
        }
        save_checkpoint(checkpoint_dir, tensors, {"step": state["step"], "state": state, "metrics": asdict(metrics)})

    task = progress.add_task("training", total=planned, completed=state["step"], loss="-", tps="-") if progress else None
    started = time.perf_counter() - metrics.wall_s
    cpu_started = time.process_time() - metrics.cpu_s
    model.train()
    while state["step"] < planned and not metrics.stopped_early:
        epoch = max(e for e in range(settings.epochs) if starts[e] <= state["step"])
        for batch in plans[epoch][state["step"] - starts[epoch] :]:
            rows = pack_rows([encoded[i] for i in batch], MAX_ROW_TOKENS)
            step_answer_tokens = sum(encoded[i].answer_tokens for i in batch)
            loss_sum, count = 0.0, 0

            def weight(loss: Any, per_token: float = 1 / max(step_answer_tokens, 1)) -> Any:
                return scaler.scale(loss * per_token)

            for row in rows:  # gradient accumulation over rows = one big row, without its quadratic attention
                row_loss, row_count = answer_backward(model, row, weight)
                loss_sum, count = loss_sum + row_loss, count + row_count
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(optimizer)  # skipped (and the scale lowered) when fp16 gradients overflowed
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["step"] += 1
            state["epoch_loss"] += loss_sum
            state["epoch_tokens"] += count
            metrics.steps, metrics.answer_tokens = state["step"], metrics.answer_tokens + count
            metrics.tokens += sum(len(encoded[i].input_ids) for i in batch)
            metrics.computed_tokens += sum(r.tokens for r in rows)
            metrics.wall_s = time.perf_counter() - started
            metrics.tokens_per_s = metrics.tokens / metrics.wall_s if metrics.wall_s else 0.0
            if progress is not None and task is not None:
                progress.update(task, completed=state["step"], loss=f"{loss_sum / max(count, 1):.3f}", tps=f"{metrics.tokens_per_s:.0f}")
            if on_step is not None:
                on_step(state["step"], loss_sum / max(count, 1))
            _take_snapshots(on_exposure, model, metrics, state["step"])
            if state["step"] % settings.checkpoint_every_steps == 0 and state["step"] - starts[epoch] < len(plans[epoch]):
                checkpoint()
        metrics.epochs_run = epoch + 1
        metrics.train_loss.append(state["epoch_loss"] / max(state["epoch_tokens"], 1))
        state["epoch_loss"], state["epoch_tokens"] = 0.0, 0
        val_loss = evaluate_loss(model, encoded_val, settings.batch_size) if encoded_val else metrics.train_loss[-1]
        metrics.val_loss.append(val_loss)
        if metrics.best_val_loss is None or val_loss < metrics.best_val_loss:
            metrics.best_val_loss = val_loss
            best = {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}
            state["bad_evals"] = 0
        else:
            state["bad_evals"] += 1
            metrics.stopped_early = state["bad_evals"] >= settings.early_stopping_patience
        checkpoint()
    if best is not None:
        set_peft_model_state_dict(model, best)
    metrics.wall_s = time.perf_counter() - started
    metrics.cpu_s = time.process_time() - cpu_started
    metrics.tokens_per_s = metrics.tokens / metrics.wall_s if metrics.wall_s else 0.0
    metrics.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    metrics.precision, metrics.device, metrics.device_name = arithmetic.weights, arithmetic.device, arithmetic.device_name
    metrics.quantization, metrics.loss_scaling = arithmetic.quantization, arithmetic.loss_scaling
    model.eval()
    return model, metrics


def _take_snapshots(on_exposure: ExposureCallback | None, model: Any, metrics: TrainMetrics, step: int) -> None:
    """Call `on_exposure` for each share of EXPOSURE the tokens trained have just reached, once, and record it."""
    taken = {e["fraction"] for e in metrics.exposure}
    for fraction in EXPOSURE:
        if on_exposure is None or fraction in taken or metrics.tokens < fraction * metrics.planned_tokens:
            continue
        kept = on_exposure(fraction, model)
        metrics.exposure.append({"fraction": fraction, "step": step, "tokens": metrics.tokens, "kept": kept})


def evaluate_loss(model: Any, examples: Sequence[EncodedExample], batch_size: int) -> float:
    """Mean cross-entropy per answer token over `examples`, without gradients."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches(range(len(examples)), batch_size):
            for row in pack_rows([examples[i] for i in batch], MAX_ROW_TOKENS):
                loss_sum, n = answer_loss(model, row)
                total, count = total + float(loss_sum), count + n
    model.train(was_training)
    return total / max(count, 1)


def measure_throughput(model: Any, examples: Sequence[ChatExample], encoded: Sequence[EncodedExample], settings: LoraSettings) -> float:
    """Training tokens/s as `train_lora` counts them on `examples` (`encoded` = them encoded), weights unchanged.

    The loop packs each step's examples into rows that compute their shared prompt prefix once, so it
    trains more example tokens per second than it computes, by the epoch's ratio of example to computed
    tokens (about 1.4 on question/answer data). So the rows of one epoch are made exactly as the loop
    makes them, a few are timed (forward and backward, no optimizer step), and the computed tokens/s
    is scaled by that ratio. Timing consecutive examples as whole batches instead mixed question and
    text examples, which share no prefix, and under-estimated the loop's speed by 1.3-2x: the demo's
    budget then covered half the facts it could have.
    """
    plan = epoch_batches(examples, settings.batch_size, settings.seed * 1000)
    rows = [row for batch in plan for row in pack_rows([encoded[i] for i in batch], MAX_ROW_TOKENS)]
    example_tokens = sum(len(encoded[i].input_ids) for batch in plan for i in batch)
    computed = sum(row.tokens for row in rows)
    if not rows or not computed:
        return 0.0

    def step(row: PackedRow) -> int:
        answer_backward(model, row, lambda loss: loss)  # the loop's own backward (it reads each slice's loss back too)
        model.zero_grad(set_to_none=True)
        return row.tokens

    was_training = model.training
    model.train()
    computed_per_s = measure_tokens_per_s(step, timed_rows(rows))
    model.train(was_training)
    return computed_per_s * example_tokens / computed


def timed_rows(rows: Sequence[PackedRow]) -> list[PackedRow]:
    """MEASURE_STEPS rows to time: the shortest as a warm-up, then rows of the lengths that hold evenly spaced shares
    of the epoch's computed tokens (rows sorted by length: the lengths the training time is spent on)."""
    by_length = sorted(rows, key=lambda row: row.tokens)
    ends = list(accumulate(row.tokens for row in by_length))
    marks = [ends[-1] * k / MEASURE_STEPS for k in range(1, MEASURE_STEPS)]
    return [by_length[0]] + [by_length[bisect_left(ends, mark)] for mark in marks]
