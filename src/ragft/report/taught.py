"""The report's section on trained arms judged on what they were taught (see `ragft.evaluate.taught`).

Accuracy on covered probes beside all probes, the coverage share and what covering the rest
would cost; recall on training questions, held-out paraphrases and probes; the known/unknown
split; accuracy on covered probes against training tokens (the exposure curve); and how close
any probe comes to a training question (leakage).
"""

from __future__ import annotations

from html import escape
from typing import Any

from ragft.evaluate.compare import CompareResult


def _pct(value: object) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, (int, float)) else "–"


def _duration(seconds: object) -> str:
    if not isinstance(seconds, (int, float)):
        return "unknown (no training time in the manifest)"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _coverage_rows(arms: dict[str, Any]) -> str:
    rows = []
    for arm, r in arms.items():
        rows.append(
            f"<tr><th>{escape(arm)}</th><td>{escape(r['adapter'])}</td><td class='num'>{_pct(r['accuracy_covered'])} "
            f"<span class='muted'>n={r['covered']}</span></td>"
            f"<td class='num'>{_pct(r.get('accuracy_fact_taught'))} <span class='muted'>n={r.get('fact_taught', 0)}</span></td>"
            f"<td class='num'>{_pct(r.get('accuracy_chunk_only'))} <span class='muted'>n={r.get('chunk_only', 0)}</span></td>"
            f"<td class='num'>{_pct(r['accuracy_uncovered'])}</td>"
            f"<td class='num'>{_pct(r['accuracy_answerable'])}</td><td class='num'>{_pct(r['accuracy_all'])} "
            f"<span class='muted'>n={r['probes']}</span></td><td class='num'>{_pct(r['coverage_share'])}</td></tr>"
        )
    return (
        "<table><tr><th>arm</th><th>learned from</th><th>covered probes</th><th>of which: fact taught</th><th>chunk only</th>"
        "<th>uncovered</th><th>answerable</th><th>all probes</th><th>coverage</th></tr>" + "".join(rows) + "</table>"
        "<p class='muted'>Fact taught: the probe's gold answer is a value the training questions taught. Chunk only: the "
        "arm read the probe's chunk (raw text, rewrites, other facts) but no training question asked for that value.</p>"
    )


def _cost_lines(arms: dict[str, Any]) -> str:
    seen, lines = set(), []
    for r in arms.values():
        cost = r["cost_to_cover"]
        if r["adapter"] in seen:
            continue
        seen.add(r["adapter"])
        if cost["chunks_left"] == 0:
            lines.append(f"<li><b>{escape(r['adapter'])}</b> was trained on every chunk ({cost['chunks_total']}).</li>")
            continue
        lines.append(
            f"<li><b>{escape(r['adapter'])}</b> learned {cost['chunks_used']} of {cost['chunks_total']} chunks; "
            f"the other {cost['chunks_left']} would take about {_duration(cost['projected_s_for_the_rest'])} more "
            f"training on this machine ({_duration(cost['training_s_per_chunk'])} per chunk, as measured).</li>"
        )
    return "<ul>" + "".join(lines) + "</ul>"


def _diagnostic_rows(arms: dict[str, Any]) -> str:
    rows = []
    for arm, r in arms.items():
        if "memorisation" not in r and "known_split" not in r:
            continue
        mem, gen = r.get("memorisation", {}), r.get("generalisation", {})
        known = r.get("known_split", {})
        rows.append(
            f"<tr><th>{escape(arm)}</th><td class='num'>{_pct(mem.get('accuracy'))} <span class='muted'>n={mem.get('asked', 0)}</span></td>"
            f"<td class='num'>{_pct(gen.get('accuracy'))} <span class='muted'>n={gen.get('asked', 0)}</span></td>"
            f"<td class='num'>{_pct(r['accuracy_covered'])}</td>"
            f"<td class='num'>{_pct(known.get('kept'))} <span class='muted'>n={known.get('known', 0)}</span></td>"
            f"<td class='num'>{_pct(known.get('gained'))} <span class='muted'>n={known.get('unknown', 0)}</span></td></tr>"
        )
    if not rows:
        return ""
    return (
        "<table><tr><th>arm</th><th>training questions (memorisation)</th><th>held-out paraphrases (generalisation)</th>"
        "<th>covered probes (transfer)</th><th>facts the base model knew: kept</th><th>facts it did not: gained</th></tr>"
        + "".join(rows)
        + "</table><p class='muted'>High memorisation with low generalisation: the arm learned the "
        "questions, not the facts. High generalisation with low transfer: it learned the facts in the training set's "
        "wording only. Kept below 100% is forgetting.</p>"
    )


def _exposure_text(points: list[dict[str, Any]]) -> str:
    """ "¼ (12,000 tokens) 5.0% → ½ ... → all ..." for one arm's exposure curve."""
    names = {0.25: "¼", 0.5: "½", 1.0: "all"}

    def one(p: dict[str, Any]) -> str:
        value = f"not measured ({p['error']})" if p.get("error") else _pct(p.get("accuracy_covered"))
        share = names.get(p["fraction"]) or f"{p['fraction']:.0%}"
        return f"{share} ({p['tokens']:,} tokens) {value}"

    return " → ".join(one(p) for p in points)


def _exposure_lines(arms: dict[str, Any]) -> str:
    lines = [
        f"<li><b>{escape(arm)}</b> on its {r['exposure'][-1]['covered']} covered probes: {escape(_exposure_text(r['exposure']))}</li>"
        for arm, r in arms.items()
        if r.get("exposure")
    ]
    if not lines:
        return ""
    return (
        "<h3>Accuracy against training tokens</h3><p>The adapter as it was at ¼ and ½ of its planned training tokens, "
        "and as installed (the best validation epoch): still rising at the end means a larger budget would help; "
        "flat means more of the same data would not.</p><ul>" + "".join(lines) + "</ul>"
    )


def _leakage_lines(leakage: dict[str, Any]) -> str:
    lines = []
    for adapter, leak in leakage.items():
        verdict = "bad" if leak["leaked"] else "good"
        closest = leak["closest"][0] if leak["closest"] else None
        example = f" Closest: “{escape(closest['probe'])}” vs “{escape(closest['training_question'])}”." if closest else ""
        lines.append(
            f"<li><b>{escape(adapter)}</b>: <span class='{verdict}'>{leak['leaked']} of {leak['probes']} probes</span> "
            f"share ≥ {leak['near_copy_threshold']:.0%} of their word {leak['ngram']}-grams with one of its "
            f"{leak['training_questions']} training questions (max {leak['max_containment']:.0%}, mean "
            f"{leak['mean_containment']:.0%}).{example}</li>"
        )
    return "<ul>" + "".join(lines) + "</ul>"


def taught_lines(result: CompareResult) -> list[str]:
    """One plain line per trained arm for the terminal: covered vs all probes, and the coverage share."""
    lines = []
    for arm, r in (result.taught or {}).get("arms", {}).items():
        lines.append(
            f"{arm}: {_pct(r['accuracy_covered'])} on the {r['covered']} probes its training data covers, "
            f"{_pct(r['accuracy_all'])} on all {r['probes']} ({_pct(r['coverage_share'])} of answerable probes covered); "
            f"{_pct(r.get('accuracy_fact_taught'))} on the {r.get('fact_taught', 0)} whose fact a training question taught"
        )
        if r.get("exposure"):
            lines.append(f"{arm} on covered probes by training tokens: {_exposure_text(r['exposure'])}")
    return lines


def taught_section(result: CompareResult) -> str:
    """`<h2>` and body of the section, or "" when no compared arm was trained."""
    taught = result.taught
    if not taught or not taught.get("arms"):
        return ""
    arms = taught["arms"]
    return (
        "<h2>Judged on what it was taught</h2><p>A fine-tuned arm knows only the chunks it was trained on. A probe is "
        "<i>covered</i> when its gold answer lies in one of them; comparing arms on covered probes asks whether "
        "fine-tuning learns what it is shown, and <code>rag-parity</code> (when compared) searches exactly those chunks.</p>"
        + _coverage_rows(arms)
        + _cost_lines(arms)
        + _diagnostic_rows(arms)
        + _exposure_lines(arms)
        + "<h3>Probe leakage into the training data</h3>"
        + _leakage_lines(taught.get("leakage", {}))
    )


__all__ = ["taught_lines", "taught_section"]
