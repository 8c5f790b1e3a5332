"""The page's plots (matplotlib, drawn to PNG data: URIs): studies by status, and per app its calls' numbers.

PNG, not SVG: a strip plot of 20,000 hips is a few tens of kB as PNG and megabytes as SVG. matplotlib's Figure is
used without pyplot, so no global backend state changes in the process that runs the apps.
"""

from __future__ import annotations

import base64
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from report_page.calls import GRADE_ORDER
from report_page.entries import PageEntry

__all__ = ["Plot", "batch_plots"]


class Plot(NamedTuple):
    """One embedded figure: its title (alt text too) and its PNG as a data: URI."""

    title: str
    data_uri: str


@dataclass(frozen=True)
class _Spec:
    title: str
    axis: str
    kind: str  # "hist": values in [0, 1] by category; "strip": one dot per value, a row per category
    lines: tuple[float, ...] = ()
    order: tuple[str, ...] = ()


_SPECS = {
    "olt_mri": _Spec("olt_mri: probability of OLT per study", "study probability", "hist", (0.5,)),
    "ankle_xray": _Spec("ankle_xray: class probability per fragment", "probability of its class", "hist"),
    "onfh_mri": _Spec(
        "onfh_mri: necrotic ratio per hip (key slice), by grade",
        "necrotic area / femoral-head area (%)",
        "strip",
        (0.1, 15.0, 30.0),
        tuple(reversed(GRADE_ORDER)),
    ),
}
_DEFAULT = _Spec("", "value", "hist")


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 6.0, height: float = 3.0):
    from matplotlib.figure import Figure  # imported here: only a run that draws its page pays for it

    figure = Figure(figsize=(width, height))
    return figure, figure.add_subplot()


def _status_plot(entries: Sequence[PageEntry]) -> Plot:
    counts = Counter((e.app or "?", e.status) for e in entries)
    apps = sorted({app for app, _ in counts})
    statuses = sorted({status for _, status in counts})
    figure, axes = _figure(6.0, 0.6 + 0.45 * len(apps))
    left = np.zeros(len(apps))
    for status in statuses:
        widths = np.array([counts[(app, status)] for app in apps], dtype=float)
        axes.barh(apps, widths, left=left, label=status)
        left += widths
    axes.set_xlabel("studies")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return Plot("Studies by app and status", _png(figure))


def _value_plot(app: str, points: list[tuple[str, float]]) -> Plot:
    spec = _SPECS.get(app, _DEFAULT)
    by_category: dict[str, list[float]] = defaultdict(list)
    for category, value in points:
        by_category[category].append(value)
    categories = [c for c in spec.order if c in by_category] + sorted(set(by_category) - set(spec.order))
    figure, axes = _figure()
    if spec.kind == "strip":
        rng = np.random.default_rng(0)  # the same jitter every time the page is drawn
        for row, category in enumerate(categories):
            values = np.asarray(by_category[category])
            axes.scatter(values, row + rng.uniform(-0.25, 0.25, len(values)), s=8, alpha=0.6)
        axes.set_yticks(range(len(categories)), [f"{c} ({len(by_category[c])})" for c in categories])
    else:
        bins = np.linspace(0.0, 1.0, 21)
        stacked = [np.clip(by_category[c], 0.0, 1.0) for c in categories]
        axes.hist(stacked, bins=bins, stacked=True, label=[f"{c} ({len(by_category[c])})" for c in categories])
        axes.set_ylabel("count")
        axes.legend(fontsize=7)
    for line in spec.lines:
        axes.axvline(line, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel(spec.axis)
    return Plot(spec.title or f"{app}: values", _png(figure))


def batch_plots(entries: Sequence[PageEntry]) -> list[Plot]:
    """The status overview, then one plot per app whose studies have numbers to show."""
    if not entries:
        return []
    plots = [_status_plot(entries)]
    by_app: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for entry in entries:
        by_app[entry.app].extend(entry.points)
    plots += [_value_plot(app, points) for app, points in sorted(by_app.items()) if points]
    return plots
