"""Measure the knowledge-injection data (issue 13 items 1-2) on the sample corpus (CPU).

    python benchmarks/bench_knowledge_data.py synth DIR        # rules synthesis on every public chunk of sample v1
    python benchmarks/bench_knowledge_data.py demo-train DIR   # `train_arm(ws, "finetuned")` on the demo's settings
    python benchmarks/bench_knowledge_data.py synth-model DIR [N [BENCH]]  # synthesis = "model" on N chunks (default 4)
    python benchmarks/bench_knowledge_data.py echo BENCH [N]   # rule questions vs their sentences on N chunks of BENCH
    python benchmarks/bench_knowledge_data.py coverage BENCH [N] [--seed S] [--label L]  # gold answers the rules teach

`coverage` (model-free, seconds) builds the fine-tuned arm's rules training set as `ragft train
--arm finetuned` would (default [corpus] chunking and [training] settings, no focus questions) on a
seeded sample of N chunks (default 60) of a shared benchmark, among the chunks holding the gold
answer of at least one answerable question, and prints: facts per chunk, the share of sentences
that yield a fact, training tokens per chunk (all examples, as train/budget.py plans them) and
facts per 1k tokens, and the figure that matters, the share of those questions whose gold answer
is the learned value of a training example (`contains_answer(value, golds)`: a model saying the
value would be scored right), beside the share whose gold answer is anywhere in a trained answer.
With --label it records the figures in benchmarks/results/knowledge_data.json under that label.

`echo` builds the rules training set on the first N chunks (default 40) of a shared benchmark's
corpus (squad2_dev ...) and prints, per fact pair kind, how much of its source sentence a question
restates (the share of the sentence's word pairs it repeats, as `rule_questions.echo_share`
measures it; computed here so the same script scores an older checkout) and how many trained
answers lead with the fact's short value.

`synth-model` times the generator's path (questions, paraphrases, reverse questions, rewrite; the
configured engine, llama.cpp on a CPU without AMX) on the first N public chunks of sample v1, or of
a shared benchmark's corpus (BENCH = squad2_dev ...), and prints time, pairs and rejections per chunk.

`synth` prints synthesis time per chunk, facts, examples and tokens (the default model's tokenizer)
per chunk. `demo-train` prepares a demo workspace (sample v1, the demo probes as focus), trains the
fine-tuned arm and prints its metrics, coverage and budget plan. Run each against an older checkout
(PYTHONPATH=old/src) for a before/after; benchmarks/results/knowledge_data.json holds ours.
"""

import sys

MODE = sys.argv.pop(1) if len(sys.argv) > 1 else ""
if MODE == "synth":
    import json
    import sys
    import time
    from dataclasses import replace
    from pathlib import Path

    from ragft.corpus.chunking import chunk_corpus
    from ragft.corpus.ingest import ingest
    from ragft.models.base import embedder_token_counter
    from ragft.models.factory import build_embedder
    from ragft.sample import write_sample
    from ragft.synth.training_set import build_training_set
    from ragft.workspace import Workspace

    root = Path(sys.argv[1])
    ws = Workspace.init(root)
    write_sample(root / "docs", 1)
    ingest(ws.store, [root / "docs"], max_file_mb=50, note="v1")
    docs = ws.store.documents(1)
    chunks = [c for c in chunk_corpus(docs, ws.config.corpus, embedder_token_counter(build_embedder(ws.config.models))) if not c.acl]
    settings = replace(ws.config.training, max_chunks=0)
    t = time.process_time()
    w = time.perf_counter()
    data = build_training_set(chunks, 1, settings=settings, corpus_text=" ".join(d.text for d in docs))
    cpu, wall = time.process_time() - t, time.perf_counter() - w
    from transformers import AutoTokenizer

    from ragft.models.transformers_backend import default_hf_model_dir
    from ragft.prompts import build_messages
    from ragft.train.data import ChatExample, encode_example

    tok = AutoTokenizer.from_pretrained(default_hf_model_dir())
    qa = [ChatExample(build_messages(p.question), p.answer) for p in data.pairs]
    text = [ChatExample((), p.text) for p in getattr(data, "passages", ())]
    enc = [encode_example(tok, e, 1024) for e in qa + text]
    n = len(chunks)
    print(
        json.dumps(
            {
                "chunks": n,
                "facts": len(data.facts),
                "pairs": len(data.pairs),
                "passages": len(text),
                "examples_per_chunk": round((len(qa) + len(text)) / n, 2),
                "facts_per_chunk": round(len(data.facts) / n, 2),
                "tokens_per_chunk": round(sum(len(e.input_ids) for e in enc) / n, 1),
                "learned_tokens_per_chunk": round(sum(e.answer_tokens for e in enc) / n, 1),
                "synthesis_cpu_ms_per_chunk": round(1000 * cpu / n, 2),
                "synthesis_wall_ms_per_chunk": round(1000 * wall / n, 2),
            }
        )
    )
elif MODE == "demo-train":
    import json
    import sys
    import time
    from pathlib import Path

    from ragft.corpus.ingest import ingest
    from ragft.jobs.compare import plan_probes
    from ragft.jobs.demo import DEMO_PROBES, prepare_demo_workspace
    from ragft.sample import write_sample
    from ragft.synth.question_file import write_questions
    from ragft.train.arms import train_arm

    d = Path(sys.argv[1])
    ws = prepare_demo_workspace(d)
    write_sample(ws.root / "docs", 1)
    ingest(ws.store, [ws.root / "docs"], max_file_mb=50, note="v1")
    plan = plan_probes(ws, 1, per_kind=ws.config.evaluation.probes_per_kind, seed=0)
    f = write_questions(plan.items, ws.state_dir / DEMO_PROBES)
    ws = ws.with_settings({"focus_questions": f.relative_to(ws.root).as_posix()})
    t = time.perf_counter()
    r = train_arm(ws, "finetuned", on_step=lambda step, loss: print("step", step, round(loss, 3), flush=True))
    m = r.metrics
    print(
        json.dumps(
            {
                "total_s": round(time.perf_counter() - t, 1),
                "train_examples": m.train_examples,
                "val": m.val_examples,
                "steps": m.steps,
                "tokens": m.tokens,
                "wall_s": round(m.wall_s, 1),
                "cpu_s": round(m.cpu_s, 1),
                "tps": round(m.tokens_per_s, 1),
                "coverage": r.manifest.coverage,
                "plan": getattr(r.manifest, "plan", None),
            }
        )
    )
elif MODE == "synth-model":
    import json
    import sys
    import time
    from collections import Counter
    from dataclasses import replace
    from pathlib import Path

    from ragft.corpus.chunking import chunk_corpus
    from ragft.corpus.ingest import ingest
    from ragft.models.base import DecodingSettings, embedder_token_counter
    from ragft.models.factory import build_embedder, build_generator, resolve_backend
    from ragft.sample import write_sample
    from ragft.synth.rewrites import chunk_passages
    from ragft.synth.training_set import _model_facts
    from ragft.workspace import Workspace

    root, count = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 4
    bench = sys.argv[3] if len(sys.argv) > 3 else "sample"
    ws = Workspace.init(root)
    if bench == "sample":
        write_sample(root / "docs", 1)
        source = root / "docs"
    else:
        shared = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / bench / "corpus.jsonl"
        source = root / "corpus.jsonl"
        source.write_text("".join(shared.read_text(encoding="utf-8").splitlines(keepends=True)[:count]), encoding="utf-8")
    ingest(ws.store, [source], max_file_mb=500, note="v1")
    docs = ws.store.documents(1)
    chunks = [c for c in chunk_corpus(docs, ws.config.corpus, embedder_token_counter(build_embedder(ws.config.models))) if not c.acl][
        :count
    ]
    generator = build_generator(ws.config.models)
    generator.generate([{"role": "user", "content": "Hi"}], DecodingSettings(max_new_tokens=1))  # load outside the timing
    settings = replace(ws.config.training, synthesis="model", max_chunks=0)
    decoding = DecodingSettings(max_new_tokens=256, temperature=0.0, seed=settings.seed)
    rejected: Counter[str] = Counter()
    rows, started = [], time.perf_counter()
    for chunk in chunks:  # the steps of build_training_set for one chunk, timed one by one
        t = time.perf_counter()
        facts = _model_facts(generator, chunk, settings, decoding, rejected)
        q = time.perf_counter()
        texts = chunk_passages(
            chunk,
            facts,
            rewrites=settings.rewrites,
            raw=True,
            generator=generator,
            decoding=replace(decoding, max_new_tokens=384),
            rejected=rejected,
        )
        questions = sum(len(f.questions) + len(f.reverse) for f in facts)
        rows.append(
            {
                "questions_s": round(q - t, 1),
                "rewrite_s": round(time.perf_counter() - q, 1),
                "facts": len(facts),
                "questions": questions,
                "passages": len(texts),
            }
        )
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "engine": resolve_backend(ws.config.models),
                "chunks": len(chunks),
                "wall_s_per_chunk": round(wall / len(chunks), 1),
                "facts_per_chunk": round(sum(r["facts"] for r in rows) / len(rows), 2),
                "questions_per_chunk": round(sum(r["questions"] for r in rows) / len(rows), 2),
                "per_chunk": rows,
                "rejected": dict(rejected),
            }
        )
    )
elif MODE == "echo":
    import itertools
    import json
    import re
    import sys
    from pathlib import Path

    from ragft.config import CorpusConfig, ModelsConfig, TrainingConfig
    from ragft.corpus.chunking import chunk_corpus
    from ragft.models.base import embedder_token_counter
    from ragft.models.factory import build_embedder
    from ragft.synth.training_set import build_training_set
    from ragft.types import Document

    bench, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40
    shared = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / bench / "corpus.jsonl"
    rows = [json.loads(line) for line in shared.read_text(encoding="utf-8").splitlines()[: count * 2]]
    docs = [Document(r["doc_id"], r.get("title", ""), r["text"], r["doc_id"]) for r in rows]
    chunks = chunk_corpus(docs, CorpusConfig(), embedder_token_counter(build_embedder(ModelsConfig())))[:count]
    data = build_training_set(chunks, 1, settings=TrainingConfig(), corpus_text=" ".join(d.text for d in docs))

    def words(text: str) -> list[str]:
        return [w.lower() for w in re.findall(r"[\w'’-]+", text)]

    def echo(question: str, sentence: str, answer: str) -> float:
        value = set(words(answer))
        pairs = {p for p in itertools.pairwise(words(sentence)) if not set(p) & value}
        return len(pairs & set(itertools.pairwise(words(question)))) / len(pairs) if pairs else 0.0

    facts = {f.fact_id: f for f in data.facts}
    report: dict[str, object] = {"bench": bench, "chunks": len(chunks), "facts": len(data.facts)}
    for kind in ("fact", "paraphrase", "reverse"):
        pairs = [p for p in data.pairs if p.kind == kind]
        shares = [echo(p.question, facts[p.fact_id].statement.split(": ", 1)[-1], facts[p.fact_id].answer) for p in pairs]
        report[kind] = {
            "questions": len(pairs),
            "mean_echo": round(sum(shares) / len(shares), 3) if shares else None,
            "over_0.6": sum(s > 0.6 for s in shares),
            "answer_leads_with_value": sum(p.answer.startswith(facts[p.fact_id].answer) for p in pairs),
        }
    report["examples"] = [(p.kind, p.question, p.answer[:80]) for p in data.pairs[:6]]
    print(json.dumps(report, ensure_ascii=False, indent=1))
elif MODE == "coverage":
    from knowledge_coverage import main as coverage_main

    coverage_main(sys.argv[1:])
elif MODE in ("-h", "--help"):
    print(__doc__)
else:
    sys.exit(__doc__)
