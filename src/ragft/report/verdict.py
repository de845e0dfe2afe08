"""The report's sections on training seeds and on the cost crossover (the measurements come from `evaluate`)."""

from __future__ import annotations

from html import escape

from ragft.evaluate.compare import CompareResult
from ragft.evaluate.crossover import Crossover
from ragft.evaluate.seeds import METHOD as SEEDS_METHOD
from ragft.report import svg


def seeds_section(result: CompareResult) -> str:
    """Each trained arm's accuracy over its training seeds: per seed, mean, min–max, sd, and by majority."""
    spreads = result.seed_spreads()
    if not spreads:
        return (
            "<p class='muted'>Each trained arm was trained once (one seed), so how much its accuracy depends on the training "
            "seed is not measured: run <code>ragft compare --seeds 3</code> to train and ask three seeds.</p>"
        )
    rows = "".join(
        f"<tr><th>{escape(s.arm)}</th><td class='num'>{len(s.accuracies)}</td>"
        f"<td class='num'>{escape(', '.join(f'{a:.1%} (seed {t})' for a, t in zip(s.accuracies, s.training_seeds)))}</td>"
        f"<td class='num'>{s.mean:.1%}</td><td class='num'>{s.low:.1%}–{s.high:.1%}</td><td class='num'>{s.sd * 100:.1f}</td>"
        f"<td class='num'>{s.majority_accuracy:.1%}</td></tr>"
        for s in spreads.values()
    )
    return (
        "<table><tr><th>arm</th><th>seeds</th><th>accuracy per seed ([training] seed)</th><th>mean</th><th>min–max</th>"
        f"<th>sd, points</th><th>right by a majority of seeds</th></tr>{rows}</table>"
        f"<p class='muted'>Method: {escape(SEEDS_METHOD)}. The paired comparisons above use the majority verdicts; every "
        "other table shows seed 0, the adapter <code>ragft serve</code> would load. A difference between arms smaller than "
        "one arm's spread over seeds is training noise.</p>"
    )


def _chart(c: Crossover) -> str:
    """Cumulative machine time of the two arms against questions answered, the crossover dashed."""
    if c.repays_after_queries:
        x_max = 2.0 * c.repays_after_queries
    else:  # no crossover to centre on: show enough questions for the per-answer costs to be seen against the build cost
        x_max = max(1000.0, float(c.queries_per_month), (c.build_s_a + c.build_s_b) / max(c.per_answer_s_a, c.per_answer_s_b, 1e-3))
    return svg.cost_chart(
        f"{c.a} vs {c.b}: machine time to build and answer",
        {c.a: (c.build_s_a, c.per_answer_s_a), c.b: (c.build_s_b, c.per_answer_s_b)},
        x_max,
        mark=c.repays_after_queries,
    )


def crossover_section(result: CompareResult) -> str:
    """Per trained arm against each retrieving arm: when fine-tuning's cheaper answers repay its training, with a plot."""
    crossings = result.crossovers()
    if not crossings:
        return (
            "<p class='muted'>No cost crossover: it needs a trained arm and an untrained retrieving arm (e.g. finetuned and "
            "rag) in the same comparison.</p>"
        )
    req = result.requirements
    volume = f"{req.queries_per_month:,} questions a month" if req.queries_per_month else "no monthly volume stated"
    items = "".join(f"<li>{escape(c.text())}</li>" for c in crossings)
    charts = "".join(_chart(c) for c in crossings)
    return (
        f"<ul>{items}</ul>{charts}<p class='muted'>Machine time on {escape(str(result.meta.get('machine', 'this machine')))}: "
        "build = training + indexing; per answer = mean answer time over every probe (prompt tokens beside it); a corpus update "
        "costs a re-training (adapter arms) and a full re-index (retrieving arms). Updates a month follow [requirements] "
        f"update_frequency = {escape(req.update_frequency)}; [requirements] queries_per_month: {escape(volume)}.</p>"
    )


__all__ = ["crossover_section", "seeds_section"]
