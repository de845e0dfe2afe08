"""The report as one self-contained HTML file: inline CSS and SVG, no scripts, no network.

Written for someone who has not seen the code: the recommendation first, each reason linking to
the table cell it rests on, then the figures, the full metric table with 95% intervals, and
example answers with their citations and traces (failures first).
"""

from __future__ import annotations

from html import escape

from ragft import arms as arm_registry
from ragft.evaluate.compare import CompareResult
from ragft.evaluate.errors import error_file
from ragft.evaluate.paired import fmt_p, mde_sentence, paired_table
from ragft.evaluate.stats import Interval
from ragft.evaluate.summary import METRICS
from ragft.report import svg
from ragft.report.recommend import Recommendation, anchor, pair_anchor, recommend_result
from ragft.report.sections import (
    costs_section,
    domain_section,
    freshness_section,
    injection_section,
    judge_section,
    leakage_section,
    noise_section,
)
from ragft.report.taught import taught_section
from ragft.report.verdict import crossover_section, seeds_section

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222;line-height:1.45}
h1{margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666;font-size:13px}.rec{background:#eef6ee;border:1px solid #9c9;border-radius:8px;padding:12px 18px}
.rec.warn{background:#fff6e5;border-color:#e0b050}.rec h2{border:none;margin-top:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;white-space:nowrap}:target{background:#ffef9e}
details{margin:6px 0;border:1px solid #e5e5e5;border-radius:6px;padding:6px 10px}summary{cursor:pointer}
.bad{color:#b00020;font-weight:600}.good{color:#17803d;font-weight:600}pre{white-space:pre-wrap;font-size:12px;background:#fafafa;padding:6px}
"""

KIND_HELP = {
    "fact": "wording follows the document",
    "paraphrase": "same fact, different words",
    "typo": "misspelt, casual",
    "unanticipated": "everyday words for the documents' jargon",
    "multi_doc": "needs two documents",
    "out_of_scope": "the documents cannot answer: refusing is right",
    "changed_fact": "value differs between corpus versions",
    "restricted": "fact from a restricted document, asked by an outsider: refusing is right",
}


def _cell(arm: str, metric: str, interval: Interval | None) -> str:
    percent = METRICS.get(metric, ("", True, True))[1]
    text = (
        "n/a"
        if interval is None or not interval.n
        else (interval.fmt() if percent else f"{interval.value:.2f} [{interval.low:.2f}–{interval.high:.2f}]")
    )
    n = f' title="n={interval.n}"' if interval is not None else ""
    return f'<td class="num" id="{anchor(arm, metric)}"{n}>{escape(text)}</td>'


def _recommendation(rec: Recommendation) -> str:
    items = "".join(f'<li>{escape(r.text)} <a href="#{r.anchor}">[number]</a></li>' for r in rec.reasons)
    out = "".join(f'<li>{escape(r.text)} <a href="#{r.anchor}">[number]</a></li>' for rs in rec.ruled_out.values() for r in rs)
    ruled = f"<p><b>Ruled out by the requirements:</b></p><ul>{out}</ul>" if out else ""
    tie = (
        f"<p><b>The evidence does not separate {escape(rec.arm or '')} from {escape(', '.join(rec.not_separated_from))}</b>: "
        "the paired test finds no significant difference, so more probes would be needed to call a winner on accuracy alone.</p>"
        if rec.not_separated_from
        else ""
    )
    cls = "rec" if rec.meets_requirements else "rec warn"
    return f'<div class="{cls}"><h2>Recommendation: {escape(rec.headline)}</h2><ul>{items}</ul>{tie}{ruled}{_levers(rec)}</div>'


def _levers(rec: Recommendation) -> str:
    """What would change a verdict that ships nothing."""
    if not rec.levers:
        return ""
    return "<p><b>What would change it:</b></p><ul>" + "".join(f"<li>{escape(lever)}</li>" for lever in rec.levers) + "</ul>"


def _paired(result: CompareResult) -> str:
    """Every pair of arms on the probes both answered: difference [95% interval], discordant counts, exact McNemar p."""
    table = paired_table(result.verdicts())
    if not table:
        return "<p class='muted'>Only one arm was measured: nothing to compare.</p>"
    rows = "".join(
        f'<tr id="{pair_anchor(pc.a, pc.b)}">'
        f"<th>{escape(pc.a)} vs {escape(pc.b)}</th><td class='num'>{pc.n}</td>"
        f"<td class='num'>{pc.accuracy_a:.1%} vs {pc.accuracy_b:.1%}</td>"
        f"<td class='num'>{pc.diff * 100:+.1f} [{pc.low * 100:+.1f}, {pc.high * 100:+.1f}]</td>"
        f"<td class='num'>{pc.only_a} / {pc.only_b}</td><td class='num{' good' if pc.separated else ''}'>{fmt_p(pc.p_value)}</td>"
        f"<td>{'yes' if pc.separated else 'no'}</td><td class='num'>{pc.mde * 100:.1f}</td></tr>"
        for pc in table
    )
    return (
        "<table><tr><th>pair (a vs b)</th><th>probes</th><th>accuracy a vs b</th><th>difference, points [95% interval]</th>"
        "<th>right only in a / only in b</th><th>p (exact McNemar)</th><th>separated (p &lt; 0.05)</th><th>MDE, points</th></tr>"
        f"{rows}</table><p><b>{escape(mde_sentence(table))}</b></p><p class='muted'>Both arms answered the same probes; an error or "
        "timeout counts as wrong. Only the probes one arm got right and the other wrong carry evidence: the exact McNemar test asks "
        "whether they split unevenly. The interval is Newcombe's score interval for paired proportions; MDE is the smallest "
        "difference these probes detect with 80% power at alpha = 0.05, given how often the two arms disagreed."
        + (
            " An arm trained with several seeds counts a probe right when a majority of its seeds got it right."
            if result.seed_scores
            else ""
        )
        + "</p>"
    )


def _error_links(result: CompareResult) -> str:
    """Links to each arm's wrong answers (JSONL), for a reviewer to audit the failure classes."""
    links = " · ".join(f"<a href='{escape(error_file(result.run_dir, arm).resolve().as_uri())}'>{escape(arm)}</a>" for arm in result.arms)
    return f"<p>Every wrong answer, per arm (JSONL: probe, answer, gold, failure class, and the arms that got it right): {links}</p>"


def _metrics_table(result: CompareResult) -> str:
    arms = result.arms
    head = "".join(f"<th>{escape(a)}</th>" for a in arms)
    rows = []
    for metric, (meaning, _, higher) in METRICS.items():
        cells = "".join(_cell(a, metric, result.summaries[a].overall.get(metric)) for a in arms)
        rows.append(
            f"<tr><th>{metric}</th><td class='muted'>{escape(meaning)} ({'higher' if higher else 'lower'} is better)</td>{cells}</tr>"
        )
    return f"<table><tr><th>metric</th><th>meaning</th>{head}</tr>{''.join(rows)}</table>"


def _kind_table(result: CompareResult, kinds: list[str]) -> str:
    head = "".join(f"<th>{escape(a)}</th>" for a in result.arms)
    rows = []
    for kind in kinds:
        cells = "".join(_cell(f"{a}-{kind}", "accuracy", result.summaries[a].by_kind.get(kind, {}).get("accuracy")) for a in result.arms)
        rows.append(f"<tr><th>{kind}</th><td class='muted'>{escape(KIND_HELP.get(kind, ''))}</td>{cells}</tr>")
    return f"<table><tr><th>probe kind</th><th>what it tests</th>{head}</tr>{''.join(rows)}</table>"


def _failures(result: CompareResult) -> str:
    names = ("retrieval_miss", "generation_miss", "should_have_refused", "wrong_refusal", "error")
    rows = []
    for arm, summary in result.summaries.items():
        wrong = sum(summary.failures.values())
        cells = "".join(f"<td class='num'>{summary.failures.get(n, 0)}</td>" for n in names)
        rows.append(f"<tr><th>{escape(arm)}</th><td class='num'>{wrong}</td>{cells}</tr>")
    head = "".join(f"<th>{n.replace('_', ' ')}</th>" for n in names)
    return (
        f"<table><tr><th>arm</th><th>wrong</th>{head}</tr>{''.join(rows)}</table><p class='muted'>retrieval miss: no gold "
        "document reached the prompt; generation miss: a gold document was in the prompt (or, closed-book, the model had "
        "no context) and the answer was still wrong; should have refused: answered an out-of-scope or restricted probe; "
        "wrong refusal: a closed-book arm refused an answerable probe; error: raised or timed out.</p>"
    )


def _examples(result: CompareResult, limit: int = 12) -> str:
    by_qid = {item.qid: item for item in result.probes}
    parts = []
    for arm in result.arms:
        records = {r.qid: r for r in result.records.get(arm, [])}
        scores = sorted(result.scores.get(arm, []), key=lambda s: (s.correct, s.kind))
        blocks = []
        for score in scores[:limit]:
            record, item = records[score.qid], by_qid[score.qid]
            verdict = (
                "<span class='good'>right</span>" if score.correct else f"<span class='bad'>wrong ({escape(score.failure or '')})</span>"
            )
            cites = "".join(
                f"<li>{escape(c.get('doc_id', ''))} chars {c.get('start')}–{c.get('end')}"
                f"{' p.' + str(c['page']) if c.get('page') else ''}: <q>{escape(str(c.get('quote', ''))[:240])}</q></li>"
                for c in record.citations
            )
            hits = "".join(
                f"<li>{escape(str(h.get('doc_id')))} score {float(h.get('score', 0)):.3f}{' (in prompt)' if h.get('in_prompt') else ''}</li>"
                for h in record.trace.get("hits", [])
            )
            gold = "; ".join(item.answers) or "(refuse)"
            withheld = record.trace.get("withheld_answer")
            withheld_note = (
                (
                    f"<br><b>withheld ({escape(str(record.trace.get('withheld_because')))}, model's refusal probability "
                    f"{_probability(record.trace.get('refusal_probability'))}):</b> {escape(str(withheld))}"
                )
                if withheld
                else ""
            )
            blocks.append(
                f"<details><summary>{verdict} · <b>{escape(item.kind)}</b> · {escape(item.question)}</summary>"
                f"<p><b>answer:</b> {escape(record.text or record.error or '')}{withheld_note}<br><b>gold:</b> {escape(gold)} · gold docs: "
                f"{escape(', '.join(item.gold_doc_ids) or '–')}{' · <b>error:</b> ' + escape(record.error) if record.error else ''}</p>"
                f"{'<p><b>citations</b></p><ul>' + cites + '</ul>' if cites else ''}{'<p><b>retrieved</b></p><ul>' + hits + '</ul>' if hits else ''}"
                f"<p class='muted'>timings: {escape(', '.join(f'{k} {v:.3f}' for k, v in record.timings.items()))}</p></details>"
            )
        parts.append(f"<h3>{escape(arm)}</h3>{''.join(blocks)}")
    return "".join(parts)


def _probability(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else "not reported"


def render_html(result: CompareResult) -> str:
    """The whole report as one HTML string."""
    rec = recommend_result(result)
    kinds = sorted({item.kind for item in result.probes})
    arms = result.arms
    accuracy = svg.bar_chart(
        "Accuracy by probe kind (95% intervals)",
        ["overall", *kinds],
        {
            a: [svg.interval_bar(result.summaries[a].overall["accuracy"])]
            + [svg.interval_bar(result.summaries[a].by_kind.get(k, {}).get("accuracy")) for k in kinds]
            for a in arms
        },
        width=1050,
    )
    latency = svg.strip_chart(
        "Answer time per probe (after warm-up)", {a: [s.latency_s for s in result.scores[a] if s.latency_s is not None] for a in arms}
    )
    req = result.requirements
    arms_list = "".join(f"<li><b>{escape(a)}</b>: {escape(arm_registry.help_line(a))}</li>" for a in arms)
    probe_counts = ", ".join(f"{k}: {sum(i.kind == k for i in result.probes)}" for k in kinds)
    stages = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{v:.1f} s</td></tr>" for k, v in result.stages_s.items())
    meta = " · ".join(f"{escape(str(k))}: {escape(str(v))}" for k, v in result.meta.items())
    probe_stats = _probe_stats(result)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ragft report</title><style>{CSS}</style></head><body>
<h1>RAG, fine-tuning or both? — ragft report</h1><p class="muted">{meta}</p>
<p>Each arm answered the same {len(result.probes)} probe questions ({escape(probe_counts)}) with the same decoding settings.
Every number carries a bootstrap 95% interval in brackets; hover a cell for its item count.</p><ul>{arms_list}</ul>
{_recommendation(rec)}
<p class="muted">Requirements (ragft.toml [requirements]): p95 latency ≤ {req.latency_budget_p95_s:g} s · updates {escape(req.update_frequency)} ·
citations {"required" if req.citations_required else "not required"} · restricted data {"present" if req.restricted_data else "absent"} · served on {escape(req.serving_hardware or "this machine")} ·
{f"{req.queries_per_month:,} questions a month" if req.queries_per_month else "monthly volume not stated"}.</p>
<h2>Paired comparisons</h2>{_paired(result)}
<h2>Training seeds</h2>{seeds_section(result)}
<h2>Accuracy by probe kind</h2>{accuracy}{_kind_table(result, kinds)}
<h2>Every metric</h2>{_metrics_table(result)}
{judge_section(result)}
<h2>Why answers were wrong</h2>{_failures(result)}{_error_links(result)}
<h2>Sensitivity to retrieval noise</h2>{noise_section(result)}
<h2>Latency</h2><p class="muted">Measured on {escape(str(result.meta.get("machine", "the machine that ran the comparison")))}.</p>{latency}
<h2>Freshness after a document update</h2>{freshness_section(result)}
<h2>Access leakage</h2>{leakage_section(result)}
<h2>Prompt injection</h2>{injection_section(result)}
<h2>Domain distance</h2>{domain_section(result)}
{taught_section(result)}
<h2>Cost</h2>{costs_section(result)}
<h2>Cost crossover</h2>{crossover_section(result)}
<h2>Probe set</h2>{probe_stats}
<h2>Stage times</h2><table>{stages}</table>
<h2>Example answers (failures first)</h2>{_examples(result)}
<p class="muted">Per-answer records: {escape(str(result.run_dir))}/&lt;arm&gt;.jsonl · machine-readable summary: summary.json beside this file.</p>
</body></html>"""


def _probe_stats(result: CompareResult) -> str:
    stats = result.probe_stats
    if not stats:
        return "<p class='muted'>Questions supplied by the user.</p>"
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td class='num'>{v}</td><td class='num'>{sum(stats.get('rejected', {}).get(k, {}).values())}</td>"
        f"<td class='muted'>{escape('; '.join(f'{r}: {n}' for r, n in stats.get('rejected', {}).get(k, {}).items()))}</td></tr>"
        for k, v in stats.get("counts", {}).items()
    )
    gold = stats.get("gold_check")
    gold_html = ""
    if gold:
        grows = "".join(
            f"<tr><th>{escape(k)}</th><td class='num'>{v['gold']}</td><td class='num'>{v['generated']}</td>"
            f"<td class='num'>{v['fact_coverage']:.0%}</td><td class='num'>{v['doc_coverage']:.0%}</td></tr>"
            for k, v in gold["by_kind"].items()
        )
        gold_html = (
            f"<p>Checked against the hand-written gold set: answerability precision {gold['answerability_precision']:.0%} "
            f"(gold set itself: {gold['gold_answerability_precision']:.0%}).</p><table><tr><th>kind</th><th>gold</th><th>generated</th>"
            f"<th>gold facts covered</th><th>gold documents covered</th></tr>{grows}</table>"
        )
    return f"<table><tr><th>kind</th><th>kept</th><th>rejected</th><th>why rejected</th></tr>{rows}</table>{gold_html}"
