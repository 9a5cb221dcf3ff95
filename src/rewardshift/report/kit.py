"""The report kit: escaping, the HTML parts every report is built from, the palette and the
number formats.

Every helper escapes what it is given with ``html.escape(..., quote=True)`` and returns
:class:`SafeHTML`; :func:`render_document` accepts only SafeHTML, so no unescaped data can
reach a page. A page is one self-contained file: inline CSS, figures inline as
``data:image/png;base64,...``, no script and no external reference; a Content-Security-Policy
``<meta>`` tells the browser to load nothing and run no script. No matplotlib here.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from rewardshift._exceptions import InputError
from rewardshift.metrics.stats import HIGHER, LOWER, format_p
from rewardshift.rundir import redact_secrets, to_json_ready

__all__ = ["BASE_COLOR", "OKABE_ITO", "SafeHTML", "TUNED_COLOR", "VERDICT_COLORS",
           "direction_arrow", "display_name", "fmt_change", "fmt_comparison_p", "fmt_p", "fmt_relative",
           "fmt_value", "html_image", "html_link", "html_paragraph", "html_table", "is_number",
           "metric_rows", "render_document", "scope_label", "source_colors"]


#: Okabe & Ito (2008) colour-blind-safe palette. Base is blue, tuned is orange.
OKABE_ITO = {
    "blue": "#0072B2", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "vermillion": "#D55E00", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000",
}


BASE_COLOR = OKABE_ITO["blue"]


TUNED_COLOR = OKABE_ITO["orange"]


_OTHER_COLORS = ("#56B4E9", "#009E73", "#CC79A7", "#D55E00", "#999999", "#000000", "#F0E442")


#: A colour per verdict of :mod:`rewardshift.measure` (its ``VERDICTS``).
VERDICT_COLORS = {"less diverse": OKABE_ITO["vermillion"], "more diverse": OKABE_ITO["green"],
                  "no practical change": "#9a9a9a", "no significant change": "#6b6b6b"}


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


def is_number(v: Any) -> TypeGuard[float]:
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
    """``p = 0.012``, ``p < 0.001``, or ``p n/a`` (:func:`rewardshift.metrics.stats.format_p`)."""
    return format_p(p, missing="p n/a")


def fmt_comparison_p(c: Mapping[str, Any], *, prefix: bool = True,
                     missing: str = "p n/a") -> str:
    """A comparison entry's p-value; at its test's floor, a bound with the resamples behind
    it, ``p < 0.01 (100 resamples)`` (``n_resamples`` and ``p_floor`` of the entry)."""
    return format_p(c.get("p_value"), prefix=prefix, missing=missing,
                    n_resamples=c.get("n_resamples"), floor=c.get("p_floor"))


def direction_arrow(direction: str) -> str:
    """``↑ more diverse`` or ``↓ more diverse`` (empty when unknown)."""
    return {HIGHER: "↑ more diverse", LOWER: "↓ more diverse"}.get(direction, "")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


_CSS = """
:root { --fg:#1d1d1f; --muted:#6b6b6b; --line:#dcdcdc; --soft:#f5f6f8; --base:#0072B2;
        --tuned:#E69F00; --less:#D55E00; --more:#009E73; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--fg);
       font: 15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1360px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
.meta { color: var(--muted); font-size: 13px; margin: 0 0 14px; }
.headline { font-size: 17px; margin: 14px 0 8px; }
ul.verdicts { list-style: none; padding: 0; margin: 0; columns: 2 420px; column-gap: 28px; }
ul.verdicts li { break-inside: avoid; padding: 3px 0; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px;
         line-height: 18px; color: #fff; font-weight: 600; white-space: nowrap; }
.b-less { background: var(--less); } .b-more { background: var(--more); }
.b-none { background: #8a8a8a; } .b-small { background: #b0b0b0; color: #1d1d1f; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 5px; vertical-align: baseline; }
/* a wide table scrolls inside its wrapper, with room below for the scrollbar; its verdict
   column (the last) stays pinned to the right edge, so no badge is ever cut off */
.tablewrap { overflow-x: auto; max-width: 100%; padding-bottom: 14px; }
table { border-collapse: separate; border-spacing: 0; table-layout: auto;
        font-size: 13.5px; font-variant-numeric: tabular-nums; }
th.verdict, td.verdict { position: sticky; right: 0; z-index: 1; background: #fff;
                         box-shadow: inset 1px 0 0 var(--line); }
th.verdict { background: var(--soft); }
.samples p.prompt { margin: 0 0 3px; font-size: 13px; color: #333; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right;
         vertical-align: top; white-space: nowrap; }
th { background: var(--soft); font-weight: 600; }
td.l, th.l { text-align: left; }
tr.group td { background: #fff; font-weight: 600; text-align: left; padding-top: 14px;
              border-bottom: 2px solid var(--line); }
.ci { color: var(--muted); font-size: 12px; }
.lead-note { margin: 8px 0 0; }
.note { color: var(--muted); font-size: 12px; white-space: normal; min-width: 120px; max-width: 260px; }
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


def _head(title: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="referrer" content="no-referrer">\n'
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>")


def _img(name: str, data: bytes, caption: str | None = None) -> str:
    b64 = base64.b64encode(bytes(data)).decode("ascii")
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{b64}" alt="{_e(name)}">{cap}</figure>'


def _config_section(config: Mapping[str, Any] | None) -> str:
    if config is None:
        return ""
    text = json.dumps(redact_secrets(to_json_ready(config, strict=False)), indent=2,
                      sort_keys=True, ensure_ascii=False, allow_nan=False)
    return (f"<h2>Configuration</h2>\n<details open><summary>config.json</summary>"
            f"<pre>{_e(text)}</pre></details>")


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
