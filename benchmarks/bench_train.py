"""Measure the fine-tuned and hybrid arms on the sample corpus (CPU).

    python benchmarks/bench_train.py throughput [--examples 48] [--threads 2]
    python benchmarks/bench_train.py memory [--steps 2] [--cases qa:512 text:512] [--variants before after] [--side-by-side]
    python benchmarks/bench_train.py demo [--arm finetuned|hybrid] [--workspace DIR] [--max-chunks 20]
    python benchmarks/bench_train.py eval [--workspace DIR] [--limit 30]
    python benchmarks/bench_train.py serving [--workspace DIR]     # LoRA overhead at inference

`throughput` trains the same examples, model and settings with ragft's trainer (as shipped, and in
fp32 to separate packing from bf16) and with a plain `transformers.Trainer` + PEFT run with padding
(fp32, and with `bf16=True`), each in its own process (so peak memory is each one's own), in the
same benchmark run. `memory` times fp32 steps (gradient checkpointing on) on rows of
each kind and length, with the previous and the current memory handling, each in its own process
(peak RSS is the process's). `demo` runs `train_arm` with the workspace's defaults.
`eval` answers closed-book with base and finetuned (trained questions; held-out paraphrases;
reversed questions that give a trained answer and ask for the sentence's subject; the hand-written
gold questions about trained facts, i.e. indirect wording; all gold fact questions; general
questions as a regression set), and the gold set with rag, finetuned+rag and hybrid, all on llama.cpp. Results go to benchmarks/results/train_<command>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
DEFAULT_WS = Path(tempfile.gettempdir()) / "ragft-bench-train-ws"
REGRESSION = [  # general questions the base model answers; fine-tuning must not break them
    ("What is the capital of France?", ["Paris"]),
    ("How many days are in a week?", ["7", "seven"]),
    ("What is the chemical symbol for water?", ["H2O"]),
    ("Which planet is known as the Red Planet?", ["Mars"]),
    ("What is 12 times 12?", ["144"]),
    ("In which language is the Python keyword 'def' used?", ["Python"]),
    ("What is the boiling point of water in Celsius at sea level?", ["100"]),
    ("Who wrote 'Romeo and Juliet'?", ["Shakespeare"]),
    ("How many minutes are in an hour?", ["60", "sixty"]),
    ("What is the largest ocean on Earth?", ["Pacific"]),
]


def sample_workspace(path: Path) -> Any:
    from ragft.corpus.ingest import ingest
    from ragft.sample import sample_dir
    from ragft.workspace import Workspace

    if (path / "ragft.toml").is_file():
        return Workspace.open(path)
    ws = Workspace.init(path)
    ingest(ws.store, [sample_dir(1)], max_file_mb=50)
    return ws


def _examples(ws: Any, count: int) -> list[Any]:
    from dataclasses import replace

    from ragft.synth import synthesize_training_set
    from ragft.train.arms import arm_examples

    every_chunk = replace(ws, config=replace(ws.config, training=replace(ws.config.training, max_chunks=0)))  # enough examples
    train, _ = arm_examples(every_chunk, "finetuned", synthesize_training_set(every_chunk))
    random.Random(0).shuffle(train)
    return train[:count]


def throughput_child(engine: str, ws_path: Path, count: int, threads: int, batch: int) -> dict[str, Any]:
    """One engine's run (called in a subprocess)."""
    import torch

    from ragft.models.transformers_backend import default_hf_model_dir
    from ragft.train.trainer import LoraSettings, load_lora_model, train_lora

    torch.set_num_threads(threads)
    ws = sample_workspace(ws_path)
    examples = _examples(ws, count)
    precision = "fp32" if engine in ("ragft_fp32", "hf_trainer", "hf_trainer_bf16") else "auto"
    settings = LoraSettings(
        epochs=1, batch_size=batch, threads=threads, checkpoint_every_steps=10_000, max_length_tokens=512, precision=precision
    )
    model_dir = default_hf_model_dir()
    if engine.startswith("ragft"):
        with tempfile.TemporaryDirectory() as work:
            _, metrics = train_lora(model_dir, examples, [], settings, Path(work))
        return {
            "engine": engine,
            "tokens": metrics.tokens,
            "computed_tokens": metrics.computed_tokens,
            "wall_s": metrics.wall_s,
            "cpu_s": metrics.cpu_s,
            "tokens_per_s": metrics.tokens_per_s,
            "tokens_per_cpu_s": metrics.tokens / metrics.cpu_s,
            "steps": metrics.steps,
            "peak_rss_mb": metrics.peak_rss_mb,
            "precision": metrics.precision,
        }
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from ragft.train.data import encode_example

    tokenizer, model = load_lora_model(model_dir, settings)
    rows = []
    for ex in examples:
        enc = encode_example(tokenizer, ex, settings.max_length_tokens)
        ids = list(enc.input_ids)
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * enc.answer_start + ids[enc.answer_start :]})
    tokens = sum(len(r["input_ids"]) for r in rows)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            out,
            per_device_train_batch_size=batch,
            num_train_epochs=1,
            learning_rate=settings.learning_rate,
            save_strategy="no",
            report_to=[],
            logging_steps=1000,
            use_cpu=True,
            seed=0,
            dataloader_num_workers=0,
            disable_tqdm=True,
            bf16=engine == "hf_trainer_bf16",
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=rows,
            data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100),
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        trainer.train()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    padded = sum(max(len(r["input_ids"]) for r in rows[i : i + batch]) * len(rows[i : i + batch]) for i in range(0, len(rows), batch))
    return {
        "engine": engine,
        "tokens": tokens,
        "padded_tokens": padded,
        "wall_s": wall,
        "cpu_s": cpu,
        "tokens_per_s": tokens / wall,
        "tokens_per_cpu_s": tokens / cpu,
        "steps": -(-len(rows) // batch),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "precision": "bf16 autocast" if engine == "hf_trainer_bf16" else "fp32",
    }


ENGINES = ("ragft", "ragft_fp32", "hf_trainer", "hf_trainer_bf16")


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    """Every engine in ENGINES on the same examples, one subprocess each, one after another."""
    sample_workspace(args.workspace)
    runs = []
    for engine in ENGINES:
        code = (
            f"import json,sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_train as b; from pathlib import Path; "
            f"print('RESULT', json.dumps(b.throughput_child({engine!r}, Path({str(args.workspace)!r}), {args.examples}, {args.threads}, {args.batch})))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(next(line for line in out.splitlines() if line.startswith("RESULT"))[7:]))
        print(runs[-1], flush=True)
    by = {r["engine"]: r for r in runs}
    ratio = lambda a, b, key="tokens_per_s": round(by[a][key] / by[b][key], 2)  # noqa: E731
    return {
        "examples": args.examples,
        "batch": args.batch,
        "threads": args.threads,
        "runs": runs,
        "speedup_tokens_per_s": ratio("ragft", "hf_trainer"),  # the comparison: ragft as shipped vs a plain Trainer
        "speedup_tokens_per_cpu_s": ratio("ragft", "hf_trainer", "tokens_per_cpu_s"),
        "speedup_vs_hf_trainer_bf16": ratio("ragft", "hf_trainer_bf16"),  # vs a Trainer told to use bf16 too
        "speedup_from_packing_alone_fp32": ratio("ragft_fp32", "hf_trainer"),
        "speedup_from_bf16_alone": ratio("ragft", "ragft_fp32"),
    }


MEMORY_CASES = ("qa:256", "qa:512", "qa:768", "raft:704", "text:512")  # kind:row tokens (see memory_row)
MEMORY_VARIANTS = ("before", "after")


def memory_row(case: str) -> Any:
    """One row of random token ids for `case` ("kind:tokens"), learned where that kind of example learns.

    qa: the last eighth (a question-answer example's answer); raft: the last 48 tokens (a short answer after
    a long prompt of passages, as the hybrid arm's RAFT rows: ~700 tokens with a distractor); text: every
    token but the first (a chunk learned as text: the LM head runs on the whole row).
    """
    import torch

    from ragft.train.data import PackedRow

    kind, _, size = case.partition(":")
    tokens = int(size)
    learned = {"qa": tokens // 8, "raft": 48, "text": tokens - 1}[kind]
    ids = torch.randint(100, 20_000, (tokens,), generator=torch.Generator().manual_seed(0)).tolist()
    return PackedRow(ids, list(range(tokens)), [-100] * (tokens - learned) + ids[-learned:], [1] * tokens)


def memory_child(case: str, variant: str, steps: int) -> dict[str, Any]:
    """Peak RSS and CPU time of `steps` fp32 training steps (forward + backward) on one row (called in a subprocess).

    variant "after" is the trainer as shipped: glibc's mmap threshold fixed (`train.heap`) and the LM head
    backpropagated one 128-row slice at a time (`answer_backward`). "before" reproduces the previous code:
    glibc's dynamic threshold and every 512-row slice's loss summed, then one `backward()`. "heap" is the
    fixed threshold alone, with the summed loss of "before" (which of the two the memory comes from).
    "after-4mb" is "after" with a 4 MB threshold (glibc's heap serves smaller blocks: fewer page faults).
    """

    from ragft.models.transformers_backend import default_hf_model_dir
    from ragft.train import heap, trainer

    if variant in ("before", "heap"):
        trainer.LOGIT_SLICE_ROWS = 512
    if variant == "before":
        trainer.return_freed_blocks_promptly = lambda: False  # type: ignore[assignment]  # glibc left as it is
    if variant == "after-4mb":
        trainer.return_freed_blocks_promptly = lambda: heap.return_freed_blocks_promptly(4 << 20)  # type: ignore[assignment]
    _, model = trainer.load_lora_model(default_hf_model_dir(), trainer.LoraSettings(precision="fp32", gradient_checkpointing=True))
    row = memory_row(case)
    model.train()
    cpu, losses, faults = [], [], []
    for _ in range(steps):
        started, faults_before = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        if variant.startswith("after"):
            loss, count = trainer.answer_backward(model, row, lambda x: x / len(row.input_ids))
        else:
            summed, count = trainer.answer_loss(model, row)
            (summed / len(row.input_ids)).backward()
            loss = float(summed.detach())
        grad = sum(float(p.grad.norm()) for p in model.parameters() if p.grad is not None)
        model.zero_grad(set_to_none=True)
        cpu.append(time.process_time() - started)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before)
        losses.append((loss / count, grad))
    return {
        "case": case,
        "variant": variant,
        "learned_tokens": count,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "step_cpu_s": [round(c, 2) for c in cpu],
        "step_page_faults": faults,  # minor faults: pages mapped afresh (what unmapping freed blocks costs)
        "loss_and_grad_norm": losses,  # equal across variants (float tolerance): same arithmetic, other memory
    }


def memory(args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS of an fp32 training step per row case and variant, one process each; earlier runs are kept in the file.

    With --side-by-side a case's variants run at the same time, so their CPU seconds are taken
    under the same load (on a shared machine, one after another they are not comparable).
    """
    runs = []
    for case in args.cases:
        codes = [
            (
                f"import json,sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_train as b; "
                f"print('RESULT', json.dumps(b.memory_child({case!r}, {variant!r}, {args.steps})))"
            )
            for variant in args.variants
        ]
        groups = [codes] if args.side_by_side else [[code] for code in codes]
        for group in groups:
            children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for code in group]
            for child in children:
                out, _ = child.communicate()
                if child.returncode:
                    raise SystemExit(f"a memory run failed (exit {child.returncode}); its command: {child.args}")
                result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT"))[7:])
                runs.append({**result, "load_1min": os.getloadavg()[0], "side_by_side": args.side_by_side})
                print(runs[-1], flush=True)
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_engines import machine_info

    previous = RESULTS / f"train_memory{'_' + args.tag if args.tag else ''}.json"
    earlier: list[Any] = []
    if previous.is_file():
        old = json.loads(previous.read_text())
        earlier = [*old.pop("earlier_runs", []), old]
    command = " ".join(["python", *sys.argv])
    return {"command": command, "steps": args.steps, "runs": runs, "cpu": machine_info(), "earlier_runs": earlier}


def demo(args: argparse.Namespace) -> dict[str, Any]:
    from ragft.train import train_arm, training_progress

    ws = sample_workspace(args.workspace).with_settings(
        {"max_chunks": args.max_chunks, "raft_examples": args.max_chunks}, note="bench_train demo"
    )
    started = time.perf_counter()
    with training_progress() as progress:
        result = train_arm(ws, args.arm, progress=progress)
    return {
        "arm": args.arm,
        "wall_s": time.perf_counter() - started,
        "metrics": result.manifest.metrics,
        "coverage": result.manifest.coverage,
        "settings": result.manifest.settings,
    }


def _score(system: Any, items: list[tuple[str, list[str]]]) -> dict[str, Any]:
    from ragft.evaluate.metrics import contains_answer

    hits, seconds, rows = 0.0, 0.0, []
    for question, golds in items:
        answer = system.answer(question)
        ok = contains_answer(answer.text, golds)
        hits, seconds = hits + ok, seconds + answer.timings.get("total_s", 0.0)
        rows.append({"q": question, "a": answer.text[:160], "ok": bool(ok)})
    return {"accuracy": hits / max(len(items), 1), "n": len(items), "mean_total_s": seconds / max(len(items), 1), "answers": rows}


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from ragft import arms as arm_registry
    from ragft.sample import questions_path
    from ragft.synth.rules import reversed_question
    from ragft.synth.types import TrainingSet
    from ragft.systems.build import index_corpus
    from ragft.train import adapter_dir

    ws = sample_workspace(args.workspace)
    data = TrainingSet.load(adapter_dir(ws, "finetuned") / "training_set.json")
    facts = {f.fact_id: f for f in data.facts}
    rng = random.Random(0)
    trained = [(p.question, [facts[p.fact_id].answer]) for p in data.split("train") if p.fact_id in facts]
    held_out = [(p.question, [facts[p.fact_id].answer]) for p in data.split("val") if p.fact_id in facts]
    train_facts = {p.fact_id for p in data.split("train") if p.fact_id in facts}
    reversed_qs = [rq for f in data.facts if f.fact_id in train_facts and (rq := reversed_question(f.statement, f.answer))]
    reversed_set = [(q, [a]) for q, a in reversed_qs]
    gold = [json.loads(line) for line in questions_path().read_text().splitlines()]
    trained_text = " ".join(f.statement for f in data.facts).lower()
    gold_facts = [(q["question"], q["answers"]) for q in gold if q["kind"] == "fact"]
    covered = [(q, a) for q, a in gold_facts if any(x.lower() in trained_text for x in a)]
    sets = {
        "trained": rng.sample(trained, min(args.limit, len(trained))),
        "held_out_paraphrases": held_out[: args.limit],
        "reversed_of_trained": reversed_set[: args.limit],
        "gold_facts_covered_by_training": covered[: args.limit],
        "gold_facts_all": rng.sample(gold_facts, min(args.limit, len(gold_facts))),
        "regression_general": REGRESSION,
    }
    result: dict[str, Any] = {"sets": {k: len(v) for k, v in sets.items()}, "closed_book": {}, "gold_with_retrieval": {}}
    base = arm_registry.build(ws, "base")
    finetuned = arm_registry.build(ws, "finetuned")
    for name, system in (("base", base), ("finetuned", finetuned)):
        result["closed_book"][name] = {k: _score(system, v) for k, v in sets.items()}
        print(name, {k: v["accuracy"] for k, v in result["closed_book"][name].items()}, flush=True)
    del base, finetuned
    if not args.closed_book_only and (adapter_dir(ws, "hybrid") / "manifest.json").is_file():
        indexed = index_corpus(ws)
        gold_rag = [
            (q["question"], q["answers"]) for q in gold if q["kind"] in ("fact", "paraphrase") and not q.get("meta", {}).get("restricted")
        ]
        gold_rag = rng.sample(gold_rag, min(args.limit, len(gold_rag)))
        for name in ("rag", "finetuned+rag", "hybrid"):
            system = arm_registry.build(ws, name, indexed=indexed)
            result["gold_with_retrieval"][name] = _score(system, gold_rag)
            print(name, result["gold_with_retrieval"][name]["accuracy"], result["gold_with_retrieval"][name]["mean_total_s"], flush=True)
    return result


def serving(args: argparse.Namespace) -> dict[str, Any]:
    """Prefill and decode speed of the default GGUF with and without the finetuned arm's GGUF LoRA.

    llama.cpp applies a LoRA at run time (extra small matmuls per layer); merging it into the
    weights would remove exactly that overhead, so this measures the most merging could save.
    """
    from ragft.models.base import DecodingSettings
    from ragft.models.default_model import default_generator_path
    from ragft.models.llama_cpp import LlamaCppGenerator
    from ragft.train import adapter_dir
    from ragft.train.adapter_files import GGUF_FILE

    ws = sample_workspace(args.workspace)
    lora = adapter_dir(ws, "finetuned") / GGUF_FILE
    if not lora.is_file():
        raise SystemExit(f"{lora} is missing: run `python benchmarks/bench_train.py demo` first")
    passage = "The warranty period for each product starts on the date of delivery to the customer. " * 40
    messages = [{"role": "user", "content": passage + "\nQuestion: when does the warranty start?"}]
    decoding = DecodingSettings(max_new_tokens=64, temperature=0.0)
    engines = {
        "base": LlamaCppGenerator(default_generator_path(), threads=args.threads),
        "base+lora": LlamaCppGenerator(default_generator_path(), threads=args.threads, lora_path=lora),
    }
    runs: dict[str, list[Any]] = {name: [] for name in engines}
    for engine in engines.values():
        engine.generate(messages, decoding)  # load and warm up
    for _ in range(3):  # alternate, so drift on a shared machine hits both alike
        for name, engine in engines.items():
            runs[name].append(engine.generate(messages, decoding))
    out: dict[str, Any] = {"prompt_tokens": runs["base"][0].prompt_tokens}
    for name, gens in runs.items():
        out[name] = {
            "prefill_tokens_per_s": max(g.prompt_tokens / g.prefill_s for g in gens),
            "decode_tokens_per_s": max(g.decode_tokens_per_s for g in gens),
        }
        print(name, out[name], flush=True)
    out["lora_prefill_overhead"] = 1 - out["base+lora"]["prefill_tokens_per_s"] / out["base"]["prefill_tokens_per_s"]
    out["lora_decode_overhead"] = 1 - out["base+lora"]["decode_tokens_per_s"] / out["base"]["decode_tokens_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("throughput", "memory", "demo", "eval", "serving"))
    parser.add_argument("--workspace", type=Path, default=DEFAULT_WS)
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--arm", default="finetuned")
    parser.add_argument("--max-chunks", type=int, default=20, help="demo: chunks (one fact each) to train on")
    parser.add_argument("--closed-book-only", action="store_true", help="eval: skip the retrieving arms on the gold set")
    parser.add_argument("--tag", default="", help="suffix for the results file name")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--steps", type=int, default=2, help="memory: training steps per run (the first allocates)")
    parser.add_argument("--cases", nargs="+", default=list(MEMORY_CASES), help="memory: rows as kind:tokens, kind qa, raft or text")
    parser.add_argument(
        "--variants", nargs="+", default=list(MEMORY_VARIANTS), choices=("before", "heap", "after", "after-4mb"), help="memory: code paths"
    )
    parser.add_argument("--side-by-side", action="store_true", help="memory: run a case's variants at once (CPU seconds under one load)")
    args = parser.parse_args()
    started = time.perf_counter()
    result = {"demo": demo, "throughput": throughput, "memory": memory, "eval": evaluate, "serving": serving}[args.command](args)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_end": os.getloadavg(),
    }
    result["bench_wall_s"] = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"train_{args.command}" + (f"_{args.arm}" if args.command == "demo" else "") + (f"_{args.tag}" if args.tag else "")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: v for k, v in result.items() if k not in ("closed_book", "gold_with_retrieval")}, indent=1, default=str)[:3000])


if __name__ == "__main__":
    main()
