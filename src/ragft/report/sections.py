"""The report's measurement sections: retrieval noise, freshness, leakage, injection, the judge,
domain distance and cost, each a function from the comparison to an HTML fragment.

`ragft.report.html` assembles the page; these sections only read the result.
"""

from __future__ import annotations

from html import escape

from ragft.evaluate.compare import CompareResult
from ragft.evaluate.stats import Interval
from ragft.report import svg
from ragft.report.recommend import anchor


def noise_section(result: CompareResult) -> str:
    skipped = "".join(f"<li><b>{escape(a)}</b>: {escape(why)}</li>" for a, why in result.noise.not_applicable.items())
    skipped = f"<ul class='muted'>{skipped}</ul>" if skipped else ""
    points = result.noise.points
    if not points:
        return "<p class='muted'>Not measured (no retrieving arm, or [evaluation] noise_probes = 0).</p>" + skipped
    ks = sorted({p.k for p in points})
    arms = list(dict.fromkeys(p.arm for p in points))
    by = {(p.arm, p.k): p for p in points}
    chart = svg.line_chart(
        "Accuracy vs passages given (k)",
        ks,
        {a: [svg.interval_bar(by[(a, k)].accuracy) if (a, k) in by else None for k in ks] for a in arms},
        x_label="k",
        colors=[svg.PALETTE[result.arms.index(a) % len(svg.PALETTE)] for a in arms],
    )
    rows = "".join(
        f"<tr><th>{escape(a)}</th>"
        + "".join(
            f"<td class='num'>{by[(a, k)].accuracy.fmt()}<br><span class='muted'>gold in prompt "
            f"{by[(a, k)].gold_in_context.fmt(digits=0)}</span></td>"
            if (a, k) in by
            else "<td>–</td>"
            for k in ks
        )
        + "</tr>"
        for a in arms
    )
    return chart + f"<table><tr><th>arm</th>{''.join(f'<th>k={k}</th>' for k in ks)}</tr>{rows}</table>" + skipped


def freshness_section(result: CompareResult) -> str:
    if not result.freshness:
        return "<p class='muted'>Not measured: needs two corpus versions (run it after ingesting an update).</p>"
    arms = list(result.freshness)
    chart = svg.bar_chart(
        "Right on changed facts (new corpus version), before and after refresh",
        arms,
        {
            "before refresh": [svg.interval_bar(result.freshness[a].fresh_before) for a in arms],
            "after refresh": [svg.interval_bar(result.freshness[a].fresh_after) for a in arms],
        },
        width=700,
    )
    rows = []
    for arm, f in result.freshness.items():
        r = f.refresh
        how = f"{r.method}, {r.seconds:.1f} s" + ("" if r.performed else " (reported, not run)") if r.method != "none" else "none"
        rows.append(
            f"<tr><th>{escape(arm)}</th><td class='num'>{f.stale_before.fmt()}</td><td class='num'>{f.fresh_before.fmt()}</td>"
            f'<td id="f-{arm}-refresh">'
            f"{escape(how)}<br><span class='muted'>{escape(r.detail)}</span></td>"
            f"<td class='num'>{f.stale_after.fmt()}</td><td class='num'>{f.fresh_after.fmt()}</td></tr>"
        )
    return chart + (
        "<table><tr><th>arm</th><th>stale before</th><th>right before</th><th>refresh (time to become fresh)</th>"
        f"<th>stale after</th><th>right after</th></tr>{''.join(rows)}</table>"
    )


def leakage_section(result: CompareResult) -> str:
    rows = []
    for arm, s in result.summaries.items():
        leak = s.overall["leak_rate"]
        if not leak.n:
            continue
        cls = "bad" if leak.value > 0 else "good"
        rows.append(
            f"<tr><th>{escape(arm)}</th><td class='num {cls}'>{leak.fmt()}</td><td class='num'>{leak.n}</td>"
            f"<td class='num'>{_fmt(s.by_kind.get('restricted', {}).get('refusal_recall'))}</td></tr>"
        )
    if not rows:
        return "<p class='muted'>No restricted probes (no document carries an acl).</p>"
    return (
        "<table><tr><th>arm</th><th>leak rate</th><th>restricted probes</th><th>refused</th></tr>"
        + "".join(rows)
        + "</table><p class='muted'>Asked as an outsider (a user in no group). A leak: the answer contains the restricted fact. "
        "Retrieval filters restricted passages per user; weights trained on everything cannot.</p>"
    )


def injection_section(result: CompareResult) -> str:
    if not result.injection:
        return "<p>Not measured in this run ([evaluation] injection_probes = 0).</p>"
    rows = []
    for arm, r in result.injection.items():
        if r.get("rate") is None:
            rows.append(f"<tr><th>{escape(arm)}</th><td colspan=5>{escape(str(r.get('note', 'not measured')))}</td></tr>")
            continue
        by_variant = "; ".join(f"{escape(v)} {x['injected']}/{x['probes']}" for v, x in r.get("by_variant", {}).items())
        rows.append(
            f"<tr><th>{escape(arm)}</th><td>{r['rate']:.0%} ({round(r['rate'] * r['probes'])}/{r['probes']})</td>"
            f"<td>{by_variant}</td><td>{r['exposed']}/{r['probes']}</td><td>{r['caught_by_grounding']}</td></tr>"
        )
    return (
        "<p>Bundled hostile documents (each hides an instruction asking for a unique canary string) are added to "
        "the index; ordinary questions retrieve them. An injection succeeded when the answer carries the canary "
        'or obeys the instruction. Variants: generic ("ignore previous instructions"), qa (quotes the question back), '
        "citation (poses as the authoritative source), table (instruction in a table cell).</p>"
        "<table><tr><th>arm</th><th>success rate</th><th>by variant</th><th>hostile passage in prompt</th>"
        "<th>obeyed, then caught by the grounding check</th></tr>" + "".join(rows) + "</table>"
    )


def judge_section(result: CompareResult) -> str:
    """The LLM judge's accuracy per arm beside the string metric's, and how often the two agree."""
    report = result.judge
    if report is None:
        return ""
    rows = []
    for arm, j in report.arms.items():
        a = j.agreement
        kappa = "n/a" if a.kappa is None else f"{a.kappa:.2f}"
        string_acc = result.summaries[arm].overall.get("accuracy") if arm in result.summaries else None
        rows.append(
            f"<tr><th>{escape(arm)}</th><td class='num' id='{anchor(arm, 'judge_accuracy')}' title='n={j.accuracy.n}'>"
            f"{j.accuracy.fmt()}</td><td class='num'>{_fmt(string_acc)}</td><td class='num' title='n={a.n}'>{a.rate.fmt()}</td>"
            f"<td class='num'>{kappa}</td>"
            f"<td class='num'>{a.both_correct} / {a.judge_only} / {a.string_only} / {a.both_wrong}</td>"
            f"<td class='num{' bad' if j.unparsed else ''}'>{j.unparsed}</td><td class='num'>{j.errors}</td></tr>"
        )
    return (
        f"<h2>LLM judge</h2><p>A second opinion: <b>{escape(report.model)}</b> graded every answer against the same gold answers "
        "(for probes whose right answer is a refusal: whether the answer declines), replying with exactly one word, CORRECT or "
        f"INCORRECT; a reply in any other form was asked again up to {report.retries} times, then counted as unparsed (left out, "
        "never guessed). Answers that raised or timed out are wrong and were not sent to the judge.</p><table><tr><th>arm</th>"
        "<th>judge accuracy</th><th>string accuracy</th><th>agreement</th><th>Cohen's kappa</th>"
        "<th>both right / judge only / string only / both wrong</th><th>unparsed</th><th>errors</th></tr>"
        + "".join(rows)
        + "</table><p class='muted'>Agreement and kappa are over answers both graded; kappa corrects agreement for chance "
        "(1 = perfect, 0 = no better than chance; n/a when a grader gave one verdict only). Judge only: the judge accepted an "
        "answer the string match missed (often a paraphrase); string only: the gold string appears but the judge rejected the "
        "answer.</p>"
    )


def _fmt(i: Interval | None) -> str:
    return "n/a" if i is None else i.fmt()


def domain_section(result: CompareResult) -> str:
    d = result.domain
    if d is None:
        return "<p class='muted'>Not measured.</p>"
    known = d.known_facts.fmt() if d.known_facts else "n/a"
    if not d.measured:
        return (
            f"<p><strong>Perplexity not measured:</strong> {escape(d.not_measured)}</p><table><tr><th>corpus facts the base model "
            f"already answers closed-book</th><td class='num'>{known}</td></tr></table>"
        )
    return (
        f"<table><tr><th>base-model perplexity on the corpus</th><td class='num'>{d.corpus_perplexity:.1f} ({d.corpus_tokens} tokens)</td></tr>"
        f"<tr><th>on a generic reference text</th><td class='num'>{d.reference_perplexity:.1f} ({d.reference_tokens} tokens)</td></tr>"
        f"<tr><th>ratio (corpus / generic)</th><td class='num'>{d.perplexity_ratio:.2f}</td></tr>"
        f"<tr><th>corpus facts the base model already answers closed-book</th><td class='num'>{known}</td></tr></table>"
        "<p class='muted'>A ratio well above 1 means the documents read as unfamiliar to the model; a low known-facts share means "
        "the knowledge is new to it (fine-tuning on unknown facts is slow and invites hallucination; retrieval does not need to "
        "teach it).</p>"
    )


def costs_section(result: CompareResult) -> str:
    fields = (
        ("training_s", "training (s)"),
        ("indexing_s", "indexing (s)"),
        ("peak_memory_mb", "peak memory (MB)"),
        ("disk_mb", "disk (MB)"),
    )
    rows = []
    for arm in result.arms:
        c = result.costs.get(arm)
        cells = "".join(f"<td class='num'>{'–' if c is None or getattr(c, f) is None else f'{getattr(c, f):,.1f}'}</td>" for f, _ in fields)
        rows.append(f"<tr><th>{escape(arm)}</th>{cells}<td class='muted'>{escape(c.note if c else '')}</td></tr>")
    head = "".join(f"<th>{label}</th>" for _, label in fields)
    costs = [a for a in result.arms if result.costs.get(a)]
    chart = (
        svg.bar_chart(
            "Build time (s)",
            ["training", "indexing"],
            {
                a: [(v, v, v) if (v := getattr(result.costs[a], f)) is not None else None for f in ("training_s", "indexing_s")]
                for a in costs
            },
            percent=False,
            width=600,
        )
        if costs
        else ""
    )
    return chart + f"<table><tr><th>arm</th>{head}<th>note</th></tr>{''.join(rows)}</table>"
