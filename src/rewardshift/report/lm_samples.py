"""The text sections of the lm report: base and tuned completions side by side, and the
hacked completions -- outside the grammar, yet liked by the proxy.

Every text from the run goes through the escaping helpers of :mod:`rewardshift.report.kit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardshift.report.kit import SafeHTML, html_paragraph, html_table, is_number
from rewardshift.report.lm_format import cell, div, fnum, pct
from rewardshift.report.lm_records import Records, base_row

__all__ = ["N_SAMPLE_PAIRS", "hacked_blocks", "samples_blocks"]

N_SAMPLE_PAIRS = 12  # base / tuned pairs shown side by side


def samples_blocks(summary: Mapping[str, Any]) -> list[SafeHTML]:
    samples = summary.get("samples") or {}
    base, tuned = list(samples.get("base") or []), list(samples.get("tuned") or [])
    if not base and not tuned:
        return [html_paragraph("No samples in the summary.")]
    tuned_name = summary.get("tuned_run") or "tuned"
    out = [html_table(["policy", "samples", "mean proxy", "mean gold", "in grammar",
                       "stopped (eos)"],
                      [_sample_stats("base", base), _sample_stats(f"tuned: {tuned_name}", tuned)],
                      caption="Over all completions kept in the summary.")]
    out.append(html_paragraph(
        f"Completions of the same prompt by the base (left) and the tuned model {tuned_name} "
        f"(right, final checkpoint), {N_SAMPLE_PAIRS} pairs at most, spread over the prompts.",
        css_class="meta"))
    for prompt, b, t in _pairs(base, tuned, N_SAMPLE_PAIRS):
        out.append(html_paragraph(f"Prompt: {prompt}", css_class="meta"))
        out.append(div([_sample_cell("base", b), _sample_cell(f"tuned: {tuned_name}", t)],
                       "samples"))
    return out


def _sample_stats(label: str, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    def mean(key: str) -> Any:
        vals = [float(r[key]) for r in rows if is_number(r.get(key)) or
                isinstance(r.get(key), bool)]
        return sum(vals) / len(vals) if vals else None

    return [label, len(rows), cell(mean("proxy")), cell(mean("gold")),
            pct(mean("in_grammar")), pct(mean("terminated"))]


def _pairs(base: Sequence[Mapping[str, Any]], tuned: Sequence[Mapping[str, Any]], limit: int
           ) -> list[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]]:
    """Up to ``limit`` (prompt, base, tuned) triples, one per prompt in turn (round robin)."""
    by_prompt: dict[str, tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]] = {}
    for side, rows in enumerate((base, tuned)):
        for r in rows:
            by_prompt.setdefault(str(r.get("prompt", "")), ([], []))[side].append(r)
    out: list[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]] = []
    depth = max((max(len(b), len(t)) for b, t in by_prompt.values()), default=0)
    for j in range(depth):
        for prompt, (b, t) in by_prompt.items():
            if len(out) == limit:
                return out
            if j < len(b) or j < len(t):
                out.append((prompt, b[j] if j < len(b) else None, t[j] if j < len(t) else None))
    return out


def _sample_meta(r: Mapping[str, Any]) -> str:
    parts = [f"proxy {fnum(r.get('proxy'))}", f"gold {fnum(r.get('gold'))}",
             "in grammar" if r.get("in_grammar") else "outside the grammar"]
    if r.get("terminated") is False:
        parts.append("cut at the length limit")
    return " · ".join(parts)


def _sample_cell(label: str, r: Mapping[str, Any] | None) -> SafeHTML:
    if r is None:
        return div([html_paragraph(f"{label}: no completion of this prompt", css_class="meta")])
    text = str(r.get("text", ""))
    return div([html_paragraph(f"{label} · {_sample_meta(r)}", css_class="meta"),
                html_paragraph(text if text.strip() else "(empty completion)")])


def hacked_blocks(summary: Mapping[str, Any], rec: Records) -> list[SafeHTML]:
    hacked = summary.get("hacked") or {}
    rows = list(hacked.get("samples") or [])
    run = hacked.get("run") or "—"
    if not rows:
        return [html_paragraph("No completion left the grammar: nothing for the proxy to be "
                               "fooled by." if hacked else "No hacked samples in the summary.")]
    base = base_row(rec, summary) or {}
    above = sum(1 for r in rows if is_number(r.get("proxy")) and is_number(base.get("proxy"))
                and r["proxy"] > base["proxy"])
    text = (f"Completions of {run} (the run with the largest share outside the grammar) that are "
            f"not texts of the grammar, highest proxy first. The gold gives each its floor; the "
            f"proxy does not know that.")
    if is_number(base.get("proxy")):
        count = f"All {len(rows)}" if above == len(rows) else f"{above} of these {len(rows)}"
        text += f" {count} score above the base's mean proxy ({fnum(base['proxy'])})."
    return [html_paragraph(text),
            div([div([html_paragraph(f"Prompt: {r.get('prompt', '')}", css_class="meta"),
                      html_paragraph(f"proxy {fnum(r.get('proxy'))} · gold {fnum(r.get('gold'))}",
                                     css_class="meta"),
                      html_paragraph(str(r.get("text", "")) or "(empty completion)")])
                 for r in rows], "samples")]
