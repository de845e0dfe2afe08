"""Settings of the comparison: what a deployment requires, and how the arms are probed and measured."""

from __future__ import annotations

from dataclasses import dataclass

from ragft.config.schema import Section, above, at_least, between, setting


@dataclass(frozen=True)
class RequirementsConfig(Section):
    """What a deployment needs; the recommendation reads these with the measurements."""

    latency_budget_p95_s: float = setting(
        5.0, range=above(0), doc="An arm whose 95th-percentile answer time exceeds this (seconds) is ruled out."
    )
    min_accuracy: float = setting(
        0.5,
        range=between(0, 1),
        doc="""
        The least share of probes an arm must answer right to be recommended (0-1); an arm below it is
        ruled out however it compares with the others.""",
    )
    update_frequency: str = setting(
        "weekly",
        choices=("daily", "weekly", "monthly", "rarely"),
        doc='How often the documents change: "daily", "weekly", "monthly" or "rarely".',
    )
    citations_required: bool = setting(False, doc="Must every answer point at the passage it came from?")
    restricted_data: str = setting(
        "auto",
        choices=("auto", "yes", "no"),
        doc='Are some documents restricted to groups? "auto" (from the corpus acl tags), "yes" or "no".',
    )
    queries_per_month: int = setting(
        0,
        range=at_least(0),
        doc="""
        Questions the deployment expects per month (0 = not stated): with update_frequency it says whether a
        fine-tuned arm's cheaper answers repay its re-training between two corpus updates (the report's cost
        crossover).""",
    )
    serving_hardware: str = setting(
        "",
        doc="""
        The hardware the chosen arm will be served on, in words (e.g. "1x L4 GPU"); "" = this machine. When
        set, latency measured here is not checked against latency_budget_p95_s: the report says where it was
        measured and that it must be measured again on the serving hardware.""",
    )


@dataclass(frozen=True)
class EvaluationConfig(Section):
    """How `ragft compare` measures the arms."""

    bootstrap_samples: int = setting(1000, range=at_least(1), doc="Resamples behind every 95% bootstrap interval.")
    noise_ks: tuple[int, ...] = setting(
        (1, 2, 4, 8), range=at_least(1), doc="Passage counts for the retrieval-noise sweep of retrieving arms."
    )
    noise_probes: int = setting(40, range=at_least(0), doc="Answerable probes asked at each of noise_ks (0 = skip the sweep).")
    probes_per_kind: int = setting(
        20,
        range=at_least(0),
        doc="""
        Probes generated per kind (fact, paraphrase, typo, unanticipated, multi_doc, out_of_scope,
        changed_fact, restricted).""",
    )
    timeout_s: float = setting(120.0, range=above(0), doc="An answer slower than this (seconds) counts as failed, never dropped.")
    warmup_questions: int = setting(1, range=at_least(0), doc="Untimed questions per arm before latency is measured.")
    concurrency: int = setting(
        1,
        range=at_least(1),
        doc="""
        Probes in flight at once per arm, for a server that batches them (vLLM, a llama.cpp server with
        parallel slots; generator_backend = "openai"). Each answer's latency is still its own request's.
        In-process engines answer one at a time whatever this says (the report records what was used).""",
    )
    injection_probes: int = setting(
        10,
        range=at_least(0),
        doc="""
        Prompt injection: questions whose answer sits in a hostile document (bundled, with hidden
        instructions) added to the index, asked of every retrieving arm (0 = skip).""",
    )
    judge: str = setting(
        "",
        doc="""
        Optional LLM judge: a second opinion on every answer, reported beside the string metrics with how
        often the two agree (Cohen's kappa). A generator as [models] generator names one, with the same
        backend and settings ("default", a .gguf path, a model directory or the served model name);
        "" = no judge. It must reply with exactly one word, CORRECT or INCORRECT; any other reply is asked
        again up to judge_retries times, then counted as unparsed (never guessed).""",
    )
    judge_retries: int = setting(2, range=at_least(0), doc="Extra asks when the judge's reply is not exactly CORRECT or INCORRECT.")
    recall_questions: int = setting(
        20,
        range=at_least(0),
        doc="""
        Trained arms' diagnostics: questions from their own training set (memorisation) and from its
        held-out validation paraphrases (generalisation) each asked of every adapter arm (0 = skip).""",
    )
    seed: int = setting(0, range=at_least(0), doc="Seed of the probe sampling and the bootstrap resamples.")
    seeds: int = setting(
        1,
        range=at_least(1),
        doc="""
        Training seeds per trained arm (`ragft compare --seeds N`): seed i trains on the same data as the
        installed adapter with [training] seed + i; the report gives each arm's accuracy spread over its seeds
        and the paired tests count a probe right when most seeds got it right (use an odd number).""",
    )
