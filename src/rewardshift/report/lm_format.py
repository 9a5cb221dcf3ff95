"""The number formats and the ``<div>`` wrapper the sections of the lm report share.

They complement :mod:`rewardshift.report.kit` (whose :func:`~rewardshift.report.kit.html_table`
formats numbers itself): a number in prose with a given format spec, a share as a percentage,
a table cell with float noise shown as 0, and escaped fragments grouped in a ``<div>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardshift._exceptions import InputError
from rewardshift.report.kit import SafeHTML, is_number

__all__ = ["cell", "div", "fnum", "pct"]


def fnum(v: Any, spec: str = ".3g") -> str:
    """A number in prose, formatted by ``spec``; ``—`` for a missing value."""
    return format(v, spec) if is_number(v) else "—"


def pct(v: Any) -> str:
    """A share as a whole percentage (``0.9`` → ``90%``); ``—`` for a missing value."""
    return f"{v:.0%}" if is_number(v) else "—"


def cell(v: Any) -> Any:
    """A table cell: numbers as they are (html_table formats them; float noise below 1e-9,
    such as the KL of best-of-1, shows as 0), missing as ``—``."""
    if v is None or (isinstance(v, float) and not is_number(v)):
        return "—"
    return 0 if is_number(v) and abs(v) < 1e-9 else v


def div(blocks: Sequence[SafeHTML], css_class: str | None = None) -> SafeHTML:
    """Wrap escaped fragments in a ``<div>`` (``css_class`` is not escaped: pass a constant)."""
    for b in blocks:
        if not isinstance(b, SafeHTML):
            raise InputError("div: blocks must be SafeHTML built by the html_* helpers")
    cls = f' class="{css_class}"' if css_class else ""
    return SafeHTML(f"<div{cls}>" + "".join(blocks) + "</div>")
