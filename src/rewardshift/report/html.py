"""The measurement's HTML report (:func:`render_report`), built from :mod:`.kit`.

One file: inline CSS, figures inline as ``data:image/png;base64,...``, no script and no
external reference of any kind; a Content-Security-Policy ``<meta>`` tells the browser to load
nothing from anywhere and run no script, as a second line of defence. Every piece of text that
comes from data (sample texts, source and metric names, config values, definitions) is escaped
with ``html.escape(..., quote=True)``.

The shared parts (escaping, tables, images, documents, palette, number formats) live in
:mod:`rewardshift.report.kit` and are re-exported here under their old names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.report.kit import (  # noqa: F401 - the public ones re-exported (names before 0.2)
    _ACROSS,
    _PNG_MAGIC,
    BASE_COLOR,
    OKABE_ITO,
    TUNED_COLOR,
    VERDICT_COLORS,
    SafeHTML,
    _config_section,
    _e,
    _head,
    _img,
    _metric_key,
    direction_arrow,
    display_name,
    fmt_change,
    fmt_comparison_p,
    fmt_p,
    fmt_relative,
    fmt_value,
    html_image,
    html_link,
    html_paragraph,
    html_table,
    is_number,
    metric_rows,
    render_document,
    scope_label,
    source_colors,
)

__all__ = ["SafeHTML", "html_image", "html_link", "html_paragraph", "html_table", "metric_rows",
           "render_document", "render_report", "source_colors"]


# Families in reading order: lexical, compression, semantic, clusters, token-level.


























# --------------------------------------------------------------------------- rendering




_MAX_PREVIEW_CHARS = 2000




def render_report(summary: Mapping[str, Any], *, title: str,
                  figures: Mapping[str, bytes] | None = None,
                  samples_preview: Mapping[str, Sequence[str | Mapping[str, str]]] | None = None,
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
        Source → a few examples, shown side by side: each a text, or a mapping with its
        ``"text"`` and ``"prompt"`` (the prompt shown above the text, cut at 300
        characters; a text is cut at 2,000).
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
    return {"less diverse": "b-less", "more diverse": "b-more",
            "no practical change": "b-small"}.get(verdict, "b-none")


def _verdicts(summary: Mapping[str, Any], comp: Mapping[str, Any]) -> str:
    cm = comp.get("metrics") or {}
    rows = [(n, p) for n, p, _ in metric_rows(summary) if n in cm]
    tally = {v: sum(cm[n].get("verdict") == v for n, _ in rows) for v in VERDICT_COLORS}
    headline = (f"<b>{_e(comp.get('tuned'))}</b> vs <b>{_e(comp.get('base'))}</b>: "
                f"less diverse on {tally['less diverse']} of {len(rows)} metrics, more diverse on "
                f"{tally['more diverse']}, no significant change on "
                f"{tally['no significant change']}"
                + (f", significant but below the minimal effect on {small}" if
                   (small := tally['no practical change']) else "") + ".")
    items = []
    for name, per_input in rows:
        m = cm[name]
        verdict = m.get("verdict") or "no significant change"
        line = (f"{display_name(name, per_input)} ({scope_label(per_input)}): "
                f"{fmt_value(m.get('base'))} → {fmt_value(m.get('tuned'))}, {verdict}, "
                f"{fmt_comparison_p(m)}")
        items.append(f'<li><span class="badge {_verdict_class(verdict)}">'
                     f"{_e(_verdict_short(verdict))}</span> {_e(line)}</li>")
    return (f'<p class="headline">{headline}</p>\n<ul class="verdicts">\n' + "\n".join(items)
            + "\n</ul>")


def _verdict_short(verdict: str) -> str:
    return {"less diverse": "less", "more diverse": "more",
            "no practical change": "tiny"}.get(verdict, "n.s.")


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
    head.append('<th class="l">note</th>')
    if comp:  # the verdict last, pinned to the right edge while the table scrolls
        head += ["<th>change</th>", "<th>relative</th>", "<th>p-value</th>",
                 "<th>effect size</th>", '<th class="l verdict">verdict</th>']
    body = []
    current = None
    for name, per_input, direction in rows:
        if per_input != current:
            current = per_input
            label = (_PER_INPUT_LABEL if per_input else _across_label(summary))
            body.append(f'<tr class="group"><td colspan="{len(head)}">{_e(label)}</td></tr>')
        cells = [f'<td class="l"><code>{_e(display_name(name, per_input))}</code></td>',
                 f'<td class="l dir">{_e(direction_arrow(direction) or "?")}</td>']
        notes = []
        for src_name, src in srcs.items():
            m = (src.get("metrics") or {}).get(name)
            cells.append(f"<td>{_value_cell(m)}</td>")
            if m and m.get("note"):
                notes.append(f"{src_name}: {m['note']}")
        cells.append(f'<td class="l note">{_e("; ".join(notes))}</td>')
        if comp:
            cells += _comparison_cells(cm.get(name))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ('<h2>Metrics</h2>\n<div class="tablewrap"><table>\n<thead><tr>' + "".join(head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table></div>")


_PER_INPUT_LABEL = "Per input: diversity among the samples of one prompt, averaged over prompts"
_ACROSS_LABELS = {
    "one_per_prompt": "Across inputs: diversity of one sample per prompt, pooled over prompts",
    "pooled": "Across inputs: diversity of all samples pooled",
}


def _across_label(summary: Mapping[str, Any]) -> str:
    """The across-input heading, as the run chose its set (``config["across_mode"]``)."""
    mode = (summary.get("config") or {}).get("across_mode")
    label = _ACROSS_LABELS.get(str(mode), "Across inputs: diversity of the samples pooled over prompts")
    cap = (summary.get("config") or {}).get("max_across")
    if mode in _ACROSS_LABELS and is_number(cap):
        label += f" (a seeded subsample beyond {int(cap):,})"
    return label


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
        return ["<td>—</td>"] * 4 + ['<td class="l verdict">—</td>']
    eff = fmt_value(c.get("effect_size"))
    if is_number(c.get("effect_size")) and c.get("effect_size_kind"):
        eff += f' <span class="ci">{_e(c["effect_size_kind"])}</span>'
    else:
        eff = _e(eff)
    verdict = c.get("verdict") or "no significant change"
    p_text = fmt_comparison_p(c, prefix=False, missing="—")
    return [f"<td>{_e(fmt_change(c.get('change')))}</td>",
            f"<td>{_e(fmt_relative(c.get('relative_change')))}</td>",
            f"<td>{_e(p_text)}</td>", f"<td>{eff}</td>",
            f'<td class="l verdict"><span class="badge {_verdict_class(verdict)}">'
            f"{_e(verdict)}</span></td>"]




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


_MAX_PROMPT_CHARS = 300


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else (
        text[:limit] + f"… [cut; {len(text):,} characters in all]")


def _prompt_and_text(item: Any) -> tuple[str, str]:
    """An example as ``(prompt, text)``: a plain string is a text without its prompt."""
    if isinstance(item, Mapping):
        return str(item.get("prompt") or ""), str(item.get("text") or "")
    return "", str(item)


def _samples_section(preview: Mapping[str, Sequence[str | Mapping[str, str]]], colors: Mapping[str, str]) -> str:
    if not preview:
        return ""
    cols = []
    for src, texts in preview.items():
        items = []
        for item in texts:
            prompt, text = _prompt_and_text(item)
            if prompt:
                items.append(f'<p class="prompt"><span class="ci">prompt:</span> '
                             f"{_e(_cut(prompt, _MAX_PROMPT_CHARS))}</p>")
            items.append(f'<pre style="border-left-color:{_e(colors.get(src, "#999"))}">'
                         f"{_e(_cut(text, _MAX_PREVIEW_CHARS))}</pre>")
        if not items:
            items.append('<p class="meta">(no samples)</p>')
        cols.append(f"<div><h3>{_swatch(colors.get(src, '#999'))}{_e(src)}</h3>"
                    + "\n".join(items) + "</div>")
    return ('<h2>Example samples</h2>\n<div class="samples">\n' + "\n".join(cols) + "\n</div>")




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












