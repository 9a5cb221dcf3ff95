"""The self-contained HTML report.

One file: inline CSS, figures inline as ``data:image/png;base64,...``, no script and no
external reference of any kind; a Content-Security-Policy ``<meta>`` tells the browser to load
nothing from anywhere and run no script, as a second line of defence. Every piece of text that
comes from data (sample texts, source and metric names, config values, definitions) is escaped
with ``html.escape(..., quote=True)``.

This module also holds the presentation helpers the figures share (metric order, display
names, number formats, the colour palette); it does not import matplotlib.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.report.rundir import redact_secrets, to_json_ready

__all__ = ["SafeHTML", "html_image", "html_link", "html_paragraph", "html_table", "metric_rows",
           "render_document", "render_report", "source_colors"]

# --------------------------------------------------------------------------- shared helpers

#: Okabe & Ito (2008) colour-blind-safe palette. Base is blue, tuned is orange.
OKABE_ITO = {
    "blue": "#0072B2", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "vermillion": "#D55E00", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000",
}
BASE_COLOR = OKABE_ITO["blue"]
TUNED_COLOR = OKABE_ITO["orange"]
_OTHER_COLORS = ("#56B4E9", "#009E73", "#CC79A7", "#D55E00", "#999999", "#000000", "#F0E442")

VERDICT_COLORS = {"less diverse": OKABE_ITO["vermillion"], "more diverse": OKABE_ITO["green"],
                  "no significant change": "#6b6b6b"}

# Families in reading order: lexical, compression, semantic, clusters, token-level.
_FAMILIES = ("distinct_", "ngram_diversity", "ead", "self_bleu", "compression_ratio",
             "homogenization", "embedding_diversity", "vendi", "n_clusters",
             "largest_cluster_mass", "remote_clique", "chamfer", "next_token_entropy",
             "branching_factor")
_ACROSS = "_across"


def source_colors(names: Sequence[str], *, base: str | None = None,
                  tuned: str | None = None) -> dict[str, str]:
    """A colour per source: ``base`` blue, ``tuned`` orange, the others from Okabe-Ito."""
    out: dict[str, str] = {}
    others = iter(_OTHER_COLORS)
    for i, name in enumerate(names):
        if name == base:
            out[name] = BASE_COLOR
        elif name == tuned:
            out[name] = TUNED_COLOR
        elif base is None and tuned is None and i < 2:
            out[name] = (BASE_COLOR, TUNED_COLOR)[i]
        else:
            out[name] = next(others, "#999999")
    return out


def _natural_key(text: str) -> tuple[Any, ...]:
    parts = re.split(r"(\d+(?:\.\d+)?|inf)", text)
    return tuple((1, float(p), "") if re.fullmatch(r"\d+(?:\.\d+)?|inf", p) else (0, 0.0, p)
                 for p in parts if p)


def _metric_key(name: str) -> tuple[Any, ...]:
    base = name[: -len(_ACROSS)] if name.endswith(_ACROSS) else name
    family = next((i for i, f in enumerate(_FAMILIES) if base.startswith(f)), len(_FAMILIES))
    return (family, _natural_key(base))


def display_name(name: str, per_input: bool) -> str:
    """The metric name without its ``_across`` suffix (the scope is shown beside it)."""
    return name[: -len(_ACROSS)] if (name.endswith(_ACROSS) and not per_input) else name


def scope_label(per_input: bool) -> str:
    return "per input" if per_input else "across inputs"


def metric_rows(summary: Mapping[str, Any]) -> list[tuple[str, bool, str]]:
    """``(metric, per_input, direction)`` for every metric in ``summary``, in reading order.

    Per-input metrics come first, then across-input ones; within each, metrics follow the
    family order (lexical → compression → semantic → clusters → token-level).
    """
    info: dict[str, tuple[bool, str]] = {}
    blocks = [s.get("metrics") or {} for s in (summary.get("sources") or {}).values()]
    comp = summary.get("comparison") or {}
    blocks.append(comp.get("metrics") or {})
    for block in blocks:
        for name, m in block.items():
            if name not in info:
                per_input = m.get("per_input")
                if per_input is None:
                    per_input = not name.endswith(_ACROSS)
                info[name] = (bool(per_input), m.get("direction") or "")
    names = sorted(info, key=lambda n: (not info[n][0], _metric_key(n)))
    return [(n, *info[n]) for n in names]


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_value(v: Any) -> str:
    """Three significant digits; ``—`` for a missing value."""
    if not is_number(v):
        return "—"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) < 0.001:
        return f"{v:.2e}"
    return f"{v:.3g}"


def fmt_change(v: Any) -> str:
    return "—" if not is_number(v) else ("+" if v > 0 else "") + fmt_value(v)


def fmt_relative(v: Any) -> str:
    """A signed percentage: ``+60%``, ``-4.5%``."""
    if not is_number(v):
        return "—"
    pct = v * 100
    return f"{pct:+.0f}%" if round(abs(pct), 1) >= 10 else f"{pct:+.1f}%"


def fmt_p(p: Any) -> str:
    """``p = 0.012``, ``p < 0.001``, or ``p n/a``."""
    if not is_number(p):
        return "p n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def direction_arrow(direction: str) -> str:
    """``↑ more diverse`` or ``↓ more diverse`` (empty when unknown)."""
    return {"higher_more_diverse": "↑ more diverse",
            "lower_more_diverse": "↓ more diverse"}.get(direction, "")


# --------------------------------------------------------------------------- rendering


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MAX_PREVIEW_CHARS = 2000

_CSS = """
:root { --fg:#1d1d1f; --muted:#6b6b6b; --line:#dcdcdc; --soft:#f5f6f8; --base:#0072B2;
        --tuned:#E69F00; --less:#D55E00; --more:#009E73; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--fg);
       font: 15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
.meta { color: var(--muted); font-size: 13px; margin: 0 0 14px; }
.headline { font-size: 17px; margin: 14px 0 8px; }
ul.verdicts { list-style: none; padding: 0; margin: 0; columns: 2 420px; column-gap: 28px; }
ul.verdicts li { break-inside: avoid; padding: 3px 0; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px;
         color: #fff; font-weight: 600; }
.b-less { background: var(--less); } .b-more { background: var(--more); }
.b-none { background: #8a8a8a; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 5px; vertical-align: baseline; }
.tablewrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right;
         vertical-align: top; white-space: nowrap; }
th { background: var(--soft); font-weight: 600; }
td.l, th.l { text-align: left; }
tr.group td { background: #fff; font-weight: 600; text-align: left; padding-top: 14px;
              border-bottom: 2px solid var(--line); }
.ci { color: var(--muted); font-size: 12px; }
.lead-note { margin: 8px 0 0; }
.note { color: var(--muted); font-size: 12px; white-space: normal; max-width: 320px; }
.dir { color: var(--muted); font-size: 12px; }
figure { margin: 18px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; }
dl.defs dt { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13.5px;
             margin-top: 8px; }
dl.defs dd { margin: 0 0 0 18px; color: #333; }
.samples { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); }
.samples h3 { margin-top: 0; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0 0 10px; padding: 8px 10px;
      background: var(--soft); border-left: 3px solid var(--line); border-radius: 3px;
      font: 13px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
details summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media print { h2 { break-after: avoid; } figure { break-inside: avoid; } }
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def render_report(summary: Mapping[str, Any], *, title: str,
                  figures: Mapping[str, bytes] | None = None,
                  samples_preview: Mapping[str, Sequence[str]] | None = None,
                  config: Mapping[str, Any] | None = None,
                  notes: Sequence[str] = ()) -> str:
    """Render one self-contained HTML report; return it as a string.

    Parameters
    ----------
    summary : dict
        The summary (``summary.json`` schema): sources, metrics, comparison, distributions,
        definitions.
    title : str
        The page title.
    figures : dict of str to bytes, optional
        Figure name → PNG bytes, embedded as base64. A figure named ``distribution_<FIELD>``
        is placed beside that field's table; the others appear, in order, under "Figures".
    samples_preview : dict of str to list of str, optional
        Source → a few example texts, shown side by side (each cut at 2,000 characters).
    config : dict, optional
        The run's config, shown as JSON with secrets redacted.
    notes : sequence of str, optional
        Plain-text paragraphs shown under the header (escaped), e.g. a known ground truth.

    Raises
    ------
    InputError
        if a figure is not PNG bytes.
    """
    figures = dict(figures or {})
    for name, data in figures.items():
        if not isinstance(data, (bytes, bytearray)) or not bytes(data[:8]) == _PNG_MAGIC:
            raise InputError(f"figure {name!r} is not PNG bytes; pass figure_to_png(fig)")
    colors = _colors(summary)
    dist_figs = {k: v for k, v in figures.items() if k.startswith("distribution_")}
    other_figs = {k: v for k, v in figures.items() if k not in dist_figs}
    parts = [
        _head(title),
        _header(summary, title, colors),
        "".join(f'<p class="lead-note">{_e(n)}</p>' for n in notes),
        _metrics_table(summary, colors),
        _figures_section(other_figs),
        _distributions_section(summary, colors, dist_figs),
        _definitions_section(summary),
        _samples_section(samples_preview or {}, colors),
        _config_section(config),
        _footer(summary),
    ]
    return "\n".join(p for p in parts if p) + "\n</main>\n</body>\n</html>\n"


def _colors(summary: Mapping[str, Any]) -> dict[str, str]:
    comp = summary.get("comparison") or {}
    return source_colors(list(summary.get("sources") or {}), base=comp.get("base"),
                         tuned=comp.get("tuned"))


def _swatch(color: str) -> str:
    return f'<span class="swatch" style="background:{_e(color)}"></span>'


def _head(title: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="referrer" content="no-referrer">\n'
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>")


def _header(summary: Mapping[str, Any], title: str, colors: Mapping[str, str]) -> str:
    meta = [f"rewardshift {_version(summary)}",
            f"tokenizer: {summary.get('tokenizer') or '—'}",
            f"embedding model: {summary.get('embedding_model') or 'none'}"]
    out = [f"<header>\n<h1>{_e(title)}</h1>", f'<p class="meta">{_e(" · ".join(meta))}</p>']
    srcs = summary.get("sources") or {}
    items = [f"{_swatch(colors.get(n, '#999'))}<b>{_e(n)}</b>: {_e(_counts(s))}"
             for n, s in srcs.items()]
    if items:
        out.append('<p class="meta">' + " &nbsp;·&nbsp; ".join(items) + "</p>")
    comp = summary.get("comparison")
    if comp:
        out.append(_verdicts(summary, comp))
    elif not srcs:
        out.append('<p class="headline">No sources in this summary.</p>')
    out.append("</header>")
    return "\n".join(out)


def _counts(src: Mapping[str, Any]) -> str:
    return ", ".join(f"{src[k]:,} {label}" for k, label in
                     (("n_samples", "samples"), ("n_prompts", "prompts"), ("n_groups", "groups"))
                     if is_number(src.get(k)))


def _verdict_class(verdict: str) -> str:
    return {"less diverse": "b-less", "more diverse": "b-more"}.get(verdict, "b-none")


def _verdicts(summary: Mapping[str, Any], comp: Mapping[str, Any]) -> str:
    cm = comp.get("metrics") or {}
    rows = [(n, p) for n, p, _ in metric_rows(summary) if n in cm]
    tally = {v: sum(cm[n].get("verdict") == v for n, _ in rows) for v in VERDICT_COLORS}
    headline = (f"<b>{_e(comp.get('tuned'))}</b> vs <b>{_e(comp.get('base'))}</b>: "
                f"less diverse on {tally['less diverse']} of {len(rows)} metrics, more diverse on "
                f"{tally['more diverse']}, no significant change on "
                f"{tally['no significant change']}.")
    items = []
    for name, per_input in rows:
        m = cm[name]
        verdict = m.get("verdict") or "no significant change"
        line = (f"{display_name(name, per_input)} ({scope_label(per_input)}): "
                f"{fmt_value(m.get('base'))} → {fmt_value(m.get('tuned'))}, {verdict}, "
                f"{fmt_p(m.get('p_value'))}")
        items.append(f'<li><span class="badge {_verdict_class(verdict)}">'
                     f"{_e(_verdict_short(verdict))}</span> {_e(line)}</li>")
    return (f'<p class="headline">{headline}</p>\n<ul class="verdicts">\n' + "\n".join(items)
            + "\n</ul>")


def _verdict_short(verdict: str) -> str:
    return {"less diverse": "less", "more diverse": "more"}.get(verdict, "n.s.")


def _metrics_table(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    srcs = summary.get("sources") or {}
    comp = summary.get("comparison") or {}
    cm = comp.get("metrics") or {}
    rows = metric_rows(summary)
    if not rows:
        return "<h2>Metrics</h2>\n<p>No metrics.</p>"
    head = ['<th class="l">metric</th>', '<th class="l">more diverse</th>']
    head += [f"<th>{_swatch(colors.get(n, '#999'))}{_e(n)}<br>"
             f'<span class="ci">value [95% CI]</span></th>' for n in srcs]
    if comp:
        head += ["<th>change</th>", "<th>relative</th>", "<th>p-value</th>",
                 "<th>effect size</th>", '<th class="l">verdict</th>']
    head.append('<th class="l">note</th>')
    body = []
    current = None
    for name, per_input, direction in rows:
        if per_input != current:
            current = per_input
            label = ("Per input: diversity among the samples of one prompt, averaged over prompts"
                     if per_input else "Across inputs: diversity of all samples pooled")
            body.append(f'<tr class="group"><td colspan="{len(head)}">{_e(label)}</td></tr>')
        cells = [f'<td class="l"><code>{_e(display_name(name, per_input))}</code></td>',
                 f'<td class="l dir">{_e(direction_arrow(direction) or "?")}</td>']
        notes = []
        for src_name, src in srcs.items():
            m = (src.get("metrics") or {}).get(name)
            cells.append(f"<td>{_value_cell(m)}</td>")
            if m and m.get("note"):
                notes.append(f"{src_name}: {m['note']}")
        if comp:
            cells += _comparison_cells(cm.get(name))
        cells.append(f'<td class="l note">{_e("; ".join(notes))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ('<h2>Metrics</h2>\n<div class="tablewrap"><table>\n<thead><tr>' + "".join(head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table></div>")


def _value_cell(m: Mapping[str, Any] | None) -> str:
    if not m:
        return '<span class="ci">not computed</span>'
    if not is_number(m.get("value")):
        return '<span class="ci">undefined</span>'
    out = _e(fmt_value(m["value"]))
    ci = m.get("ci")
    if ci and len(ci) == 2 and all(is_number(c) for c in ci):
        out += f' <span class="ci">[{_e(fmt_value(ci[0]))}, {_e(fmt_value(ci[1]))}]</span>'
    return out


def _comparison_cells(c: Mapping[str, Any] | None) -> list[str]:
    if not c:
        return ["<td>—</td>"] * 4 + ['<td class="l">—</td>']
    eff = fmt_value(c.get("effect_size"))
    if is_number(c.get("effect_size")) and c.get("effect_size_kind"):
        eff += f' <span class="ci">{_e(c["effect_size_kind"])}</span>'
    else:
        eff = _e(eff)
    verdict = c.get("verdict") or "no significant change"
    p = c.get("p_value")
    p_text = "—" if not is_number(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")
    return [f"<td>{_e(fmt_change(c.get('change')))}</td>",
            f"<td>{_e(fmt_relative(c.get('relative_change')))}</td>",
            f"<td>{_e(p_text)}</td>", f"<td>{eff}</td>",
            f'<td class="l"><span class="badge {_verdict_class(verdict)}">{_e(verdict)}</span></td>']


def _img(name: str, data: bytes, caption: str | None = None) -> str:
    b64 = base64.b64encode(bytes(data)).decode("ascii")
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{b64}" alt="{_e(name)}">{cap}</figure>'


_FIGURE_CAPTIONS = {
    "metrics": "Each panel is one metric: a point per source with its 95% confidence interval. "
               "The arrow on the y-axis says which way is more diverse.",
    "embedding_map": "Samples in a 2-D projection of embedding space, coloured by source. "
                     "A wider spread means more semantic diversity.",
}


def _figures_section(figs: Mapping[str, bytes]) -> str:
    if not figs:
        return ""
    items = [_img(n, d, _FIGURE_CAPTIONS.get(n, n)) for n, d in figs.items()]
    return "<h2>Figures</h2>\n" + "\n".join(items)


def _distributions_section(summary: Mapping[str, Any], colors: Mapping[str, str],
                           figs: Mapping[str, bytes]) -> str:
    dists = summary.get("distributions") or {}
    if not dists:
        return "\n".join(_img(n, d, n) for n, d in figs.items())
    out = ["<h2>Distributions</h2>",
           '<p class="meta">Share of samples per category. Higher entropy and support = more '
           "diverse. KL, JS and χ² compare the two compared sources (see the definitions).</p>"]
    for fld, entry in dists.items():
        out.append(f"<h3>{_e(fld)}</h3>")
        out.append(_distribution_table(entry, colors))
        fig = figs.get(f"distribution_{fld}")
        if fig is not None:
            out.append(_img(f"distribution_{fld}", fig))
    placed = {f"distribution_{f}" for f in dists}
    out += [_img(n, d, n) for n, d in figs.items() if n not in placed]
    return "\n".join(out)


def _distribution_table(entry: Mapping[str, Any], colors: Mapping[str, str],
                        max_rows: int = 15) -> str:
    srcs = entry.get("sources") or {}
    totals = {n: sum((s.get("counts") or {}).values()) for n, s in srcs.items()}
    cats: dict[str, int] = {}
    for s in srcs.values():
        for cat, c in (s.get("counts") or {}).items():
            cats[cat] = cats.get(cat, 0) + c
    order = sorted(cats, key=lambda c: (-cats[c], str(c)))
    head = '<th class="l">category</th>' + "".join(
        f"<th>{_swatch(colors.get(n, '#999'))}{_e(n)}</th>" for n in srcs)
    rows = []
    for cat in order[:max_rows]:
        cells = "".join(f"<td>{_share(s.get('counts', {}).get(cat, 0), totals[n])}</td>"
                        for n, s in srcs.items())
        rows.append(f'<tr><td class="l">{_e(cat)}</td>{cells}</tr>')
    if len(order) > max_rows:
        rest = order[max_rows:]
        cells = "".join(
            f"<td>{_share(sum(s.get('counts', {}).get(c, 0) for c in rest), totals[n])}</td>"
            for n, s in srcs.items())
        rows.append(f'<tr><td class="l">({len(rest)} more categories)</td>{cells}</tr>')
    for key, label in (("entropy", "entropy (nats)"), ("support", "support (categories)")):
        cells = "".join(f"<td><b>{_e(fmt_value(s.get(key)))}</b></td>" for s in srcs.values())
        rows.append(f'<tr><td class="l"><b>{_e(label)}</b></td>{cells}</tr>')
    out = ('<div class="tablewrap"><table><thead><tr>' + head + "</tr></thead><tbody>"
           + "".join(rows) + "</tbody></table></div>")
    comp = entry.get("comparison")
    if comp:
        stats = (f"KL = {fmt_value(comp.get('kl'))} · JS = {fmt_value(comp.get('js'))} · "
                 f"χ² = {fmt_value(comp.get('chi2'))} ({fmt_p(comp.get('chi2_p'))}) · "
                 f"coverage = {fmt_value(comp.get('coverage'))}")
        out += f'<p class="meta">{_e(stats)}</p>'

    return out


def _share(count: Any, total: int) -> str:
    if not total:
        return "—"
    return f'{_e(f"{count / total:.1%}")} <span class="ci">({_e(count)})</span>'


def _definitions_section(summary: Mapping[str, Any]) -> str:
    defs = summary.get("definitions") or {}
    if not defs:
        return ""
    names = sorted(defs, key=lambda n: (n.endswith(_ACROSS), _metric_key(n)))
    items = [f"<dt>{_e(n)}</dt><dd>{_e(defs[n])}</dd>" for n in names]
    return '<h2>Definitions</h2>\n<dl class="defs">\n' + "\n".join(items) + "\n</dl>"


def _samples_section(preview: Mapping[str, Sequence[str]], colors: Mapping[str, str]) -> str:
    if not preview:
        return ""
    cols = []
    for src, texts in preview.items():
        items = []
        for text in texts:
            text = str(text)
            if len(text) > _MAX_PREVIEW_CHARS:
                text = text[:_MAX_PREVIEW_CHARS] + f"… [cut; {len(text):,} characters in all]"
            items.append(f'<pre style="border-left-color:{_e(colors.get(src, "#999"))}">'
                         f"{_e(text)}</pre>")
        if not items:
            items.append('<p class="meta">(no samples)</p>')
        cols.append(f"<div><h3>{_swatch(colors.get(src, '#999'))}{_e(src)}</h3>"
                    + "\n".join(items) + "</div>")
    return ('<h2>Example samples</h2>\n<div class="samples">\n' + "\n".join(cols) + "\n</div>")


def _config_section(config: Mapping[str, Any] | None) -> str:
    if config is None:
        return ""
    text = json.dumps(redact_secrets(to_json_ready(config, strict=False)), indent=2,
                      sort_keys=True, ensure_ascii=False, allow_nan=False)
    return (f"<h2>Configuration</h2>\n<details open><summary>config.json</summary>"
            f"<pre>{_e(text)}</pre></details>")


def _version(summary: Mapping[str, Any]) -> str:
    from rewardshift import __version__

    return str(summary.get("rewardshift_version") or __version__)


def _footer(summary: Mapping[str, Any]) -> str:
    return (f"<footer>Generated by rewardshift {_e(_version(summary))}. "
            "This file is self-contained: it loads nothing from the network.</footer>")


# --------------------------------------------------------------------------- documents
# Other reports (the lab, training runs, audits) are built from the same parts: each helper
# below escapes what it is given and returns SafeHTML; render_document accepts only SafeHTML,
# so no unescaped data can reach the page.


class SafeHTML(str):
    """A fragment built by this module's helpers: already escaped, safe to embed."""


def html_paragraph(text: str, *, css_class: str | None = None) -> SafeHTML:
    """``<p>`` with the text escaped."""
    cls = f' class="{_e(css_class)}"' if css_class else ""
    return SafeHTML(f"<p{cls}>{_e(text)}</p>")


def html_link(href: str, text: str) -> SafeHTML:
    """A paragraph holding one link, ``href`` and ``text`` escaped (e.g. to a sub-report)."""
    return SafeHTML(f'<p><a href="{_e(href)}">{_e(text)}</a></p>')


def html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
               caption: str | None = None) -> SafeHTML:
    """A table; numbers formatted with :func:`fmt_value`, every cell escaped."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(fmt_value(v) if is_number(v) else v)}</td>" for v in row)
        + "</tr>" for row in rows)
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return SafeHTML(f'<div class="tablewrap"><table>{cap}<thead><tr>{head}</tr></thead>'
                    f"<tbody>{body}</tbody></table></div>")


def html_image(name: str, png: bytes, *, caption: str | None = None) -> SafeHTML:
    """A PNG figure embedded as base64 (rejects anything that is not PNG)."""
    if not isinstance(png, (bytes, bytearray)) or bytes(png[:8]) != _PNG_MAGIC:
        raise InputError(f"figure {name!r} is not PNG bytes; pass figure_to_png(fig)")
    return SafeHTML(_img(name, png, caption))


def render_document(title: str, sections: Sequence[tuple[str, Sequence[SafeHTML]]], *,
                    subtitle: str | None = None, config: Mapping[str, Any] | None = None,
                    version: str = "") -> str:
    """A self-contained report page: a title, sections of SafeHTML blocks, the config.

    Raises
    ------
    InputError
        if a block is a plain string (build blocks with the ``html_*`` helpers).
    """
    parts = [_head(title), f"<header>\n<h1>{_e(title)}</h1>"]
    if subtitle:
        parts.append(f'<p class="meta">{_e(subtitle)}</p>')
    parts.append("</header>")
    toc = "".join(f'<li><a href="#s{i}">{_e(h)}</a></li>' for i, (h, _) in enumerate(sections))
    if len(sections) > 2:
        parts.append(f'<nav><ul class="toc">{toc}</ul></nav>')
    for i, (heading, blocks) in enumerate(sections):
        for b in blocks:
            if not isinstance(b, SafeHTML):
                raise InputError(f"section {heading!r}: blocks must be built with html_* "
                                 "helpers (SafeHTML), not plain strings")
        parts.append(f'<section id="s{i}"><h2>{_e(heading)}</h2>{"".join(blocks)}</section>')
    if config is not None:
        parts.append(_config_section(config))
    parts.append(f"<footer>Generated by rewardshift {_e(version)}. This file is "
                 "self-contained: it loads nothing from the network.</footer>")
    return "\n".join(p for p in parts if p) + "\n</main>\n</body>\n</html>\n"
