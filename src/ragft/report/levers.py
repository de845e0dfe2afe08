"""What would change a broken requirement: the lever the measurements point at, one sentence per requirement.

The recommendation names these when no arm meets the requirements, so the verdict says what to do
next rather than only what failed. Each lever reads the arm's own failure attribution (see
`ragft.evaluate.scoring`: retrieval miss = no gold passage reached the prompt; generation miss = it
did, or the arm is closed-book, and the answer was still wrong).
"""

from __future__ import annotations

from ragft.evaluate.requirements import ArmEvidence

RETRIEVING = ("rag", "hybrid", "finetuned+rag")


def retrieves(e: ArmEvidence) -> bool:
    """Whether the arm puts retrieved passages in its prompt (by name, or because it has retrieval misses)."""
    return e.arm in RETRIEVING or e.failures.get("retrieval_miss", 0) > 0


def latency_lever(e: ArmEvidence) -> str:
    fewer = ", or fewer passages per prompt (a smaller [retrieval] k: a shorter prompt to read)" if retrieves(e) else ""
    return (
        f"{e.arm} would fit the budget on serving hardware that reads prompts faster than the machine it was measured on: "
        f"a CPU with bf16 matrix units (AMX / AVX512-BF16, where the transformers engine runs in bf16), or a GPU{fewer}"
    )


def accuracy_lever(e: ArmEvidence) -> str:
    """Why this arm's answers are wrong, from its failure counts, and what would fix the dominant cause."""
    f = e.failures
    wrong = sum(f.values())
    if not wrong:
        return f"{e.arm} has no attributed failures to learn from: more probes would tell more"
    gen, ret = f.get("generation_miss", 0), f.get("retrieval_miss", 0)
    multi = sum(e.failures_by_kind.get("multi_doc", {}).values())
    if f.get("error", 0) * 2 >= wrong:
        return (
            f"{f['error']} of {e.arm}'s {wrong} wrong answers are errors or timeouts: read them in the answers file "
            "(a raised error, or raise [evaluation] timeout_s)"
        )
    if multi * 2 >= wrong:
        return (
            f"{multi} of {e.arm}'s {wrong} wrong answers are multi-document questions: multi-step retrieval (retrieve "
            "again with what the first passages say) or a model that composes several facts"
        )
    if f.get("should_have_refused", 0) * 2 >= wrong:
        return (
            f"{f['should_have_refused']} of {e.arm}'s {wrong} wrong answers answer questions it should have refused: "
            "stricter grounding (refuse when no passage supports the answer)"
        )
    if retrieves(e) and gen >= ret and gen:
        return (
            f"{gen} of {e.arm}'s {wrong} wrong answers are generation misses with the gold passage in the prompt: the "
            "model does not use what it is given; a larger model is the lever, not better retrieval"
        )
    if retrieves(e) and ret:
        return (
            f"{ret} of {e.arm}'s {wrong} wrong answers are retrieval misses (no gold passage reached the prompt): more "
            "passages (a larger [retrieval] k), a reranker, or a different chunk size"
        )
    return (
        f"{gen} of {e.arm}'s {wrong} wrong answers are closed-book misses: the model does not hold these facts; give it "
        "the documents (retrieval) or a larger model"
    )


def requirement_lever(e: ArmEvidence, requirement: str) -> str:
    """The lever for one broken requirement ('latency' | 'accuracy' | 'vs_base' | 'citations' | 'leak' | 'freshness')."""
    if requirement == "latency":
        return latency_lever(e)
    if requirement in ("accuracy", "vs_base"):
        return accuracy_lever(e)
    if requirement == "citations":
        return f"{e.arm} does not cite: a retrieving arm (rag, hybrid) points at the passage behind each answer"
    if requirement == "leak":
        return (
            f"{e.arm} learned restricted facts into its weights: retrieval filters passages per user; train only on unrestricted documents"
        )
    return f"{e.arm} takes too long to learn an update: re-indexing (a retrieving arm) catches up in seconds"
