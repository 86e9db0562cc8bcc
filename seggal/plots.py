"""Figure builders: plain functions from tables to plotly figures (testable without a browser).

Every figure names its source in its title (``source``: the published figures, a SegGal run, or the
synthetic demo — see :attr:`seggal.runs.Run.source`). Colours are template-neutral (Viridis; Figure 6's
light band fills with dark text) and no background or template is set, so the figures read in Streamlit's
light and dark themes alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from seggal.errors import SegGalError
from seggal.methods import get_method
from seggal.tasks import TASKS, get_task

SCALE = "Viridis"
FAMILY_MARK = {"biomedical": "B", "general": "G", "classical": "C"}
ATTENTION_MARK = "★"
MARKS_LEGEND = "B = biomedical method, G = general-purpose method, C = classical baseline, ★ = uses attention"
#: Fills of the paper's colour bands (:func:`seggal.guideline.rules.band`): light, for dark text in either theme.
BAND_COLOURS = {"blue": "#9ecae1", "yellow": "#fde68a", "red": "#fca5a5"}


def band_css(metric: str, value: float) -> str:
    """A CSS ``background-color`` for the band of ``value`` (empty for NaN), for pandas ``Styler.map``."""
    from seggal.guideline.rules import band

    colour = band(metric, value)
    return f"background-color: {BAND_COLOURS[colour]}; color: black" if colour else ""


def _title(title: str, source: str) -> dict:
    return {"text": f"{title}<br><sup>Source: {source}</sup>"}


def _cell_text(values: np.ndarray, fmt: str = "{:.2f}") -> list[list[str]]:
    return [["" if pd.isna(v) else fmt.format(v) for v in row] for row in values]


def method_label(method_id: str, name: str) -> str:
    """Tick label with the registry's marks: ``"Swin-S (G) ★"``; a method not in the registry gets none."""
    try:
        method = get_method(method_id)
    except SegGalError:
        return name
    return f"{name} ({FAMILY_MARK[method.family]})" + (f" {ATTENTION_MARK}" if method.attention else "")


def _method_facts(method_id: str) -> str:
    try:
        method = get_method(method_id)
    except SegGalError:
        return "not a registry method"
    return f"{method.family}, {'uses attention' if method.attention else 'no attention'}"


def _heatmap(z: pd.DataFrame, y_text: Sequence[str], x_text: Sequence[str], hover: np.ndarray):
    """A heatmap of scores in [0, 1] with the value printed in each cell and ``hover`` as its tooltip."""
    import plotly.graph_objects as go

    return go.Heatmap(
        z=z.to_numpy(dtype=float), x=list(x_text), y=list(y_text), zmin=0.0, zmax=1.0, colorscale=SCALE,
        text=_cell_text(z.to_numpy(dtype=float)), texttemplate="%{text}", customdata=hover,
        hovertemplate="%{customdata}<extra></extra>", colorbar={"title": {"text": "score"}}, xgap=1, ygap=1,
    )


def _hover(z: pd.DataFrame, rows: Sequence[str], columns: Sequence[str], extra: Sequence[str] | None = None) -> np.ndarray:
    out = np.empty(z.shape, dtype=object)
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            value = z.iat[i, j]
            shown = "no score" if pd.isna(value) else f"{value:.3f}"
            out[i, j] = f"<b>{row}</b>{' (' + extra[i] + ')' if extra else ''}<br>{column}: {shown}"
    return out


def _figure(trace, title: str, source: str, height: int, x_title: str = "", y_title: str = ""):
    import plotly.graph_objects as go

    fig = go.Figure(trace)
    fig.update_layout(title=_title(title, source), height=height, margin={"l": 10, "r": 10, "t": 80, "b": 10})
    fig.update_yaxes(autorange="reversed", title=y_title)  # first row of the table on top
    fig.update_xaxes(title=x_title)
    return fig


def ranking_heatmap(table: pd.DataFrame, columns: Sequence[str], source: str, metric: str = "accuracy"):
    """Figure 2a: methods × ``columns`` of a :func:`seggal.ranking.rank_table` table, in the table's order.

    ``table`` holds ``method``, ``method_id`` and ``columns`` (task ids, usability, scalability,
    overall); rows stay in the given (rank) order, best on top; task columns are titled by task label.
    """
    labels = {t.id: f"{t.label} {metric}" if metric != "accuracy" else t.label for t in TASKS}
    z = table[list(columns)].astype(float)
    x = [labels.get(c, c) for c in columns]
    y = [method_label(i, n) for i, n in zip(table["method_id"], table["method"])]
    hover = _hover(z, list(table["method"]), x, [_method_facts(i) for i in table["method_id"]])
    return _figure(_heatmap(z, y, x, hover), f"Ranking of methods ({metric}); sorted by overall score", source,
                   120 + 28 * len(table))


def guideline_figure(table: pd.DataFrame, source: str, task_label: str):
    """Figure 6 for one scenario: methods × (accuracy, usability, training hours), cells in the paper's bands.

    ``table`` is indexed by method name with columns ``method_id``, ``accuracy``, ``usability`` and
    ``training_hours``, in display order. Cell colours are :func:`seggal.guideline.rules.band`'s, in
    :data:`BAND_COLOURS` (light fills with dark text, legible in either theme); a missing value is a blank cell.
    """
    import plotly.graph_objects as go

    from seggal.guideline.rules import BAND_METRICS as metrics, band

    names = list(table.index)
    colours = list(BAND_COLOURS)
    bands = [[band(m, table.at[n, m]) for m in metrics] for n in names]
    z = np.array([[np.nan if b is None else colours.index(b) for b in row] for row in bands], dtype=float).reshape(-1, 3)
    text = [["" if b is None else f"{table.at[n, m]:.0f} h" if m == "training_hours" else f"{table.at[n, m]:.2f}"
             for m, b in zip(metrics, row)] for n, row in zip(names, bands)]
    hover = np.array([[f"<b>{n}</b><br>{m.replace('_', ' ')}: {text[i][j] or 'no value'} ({bands[i][j] or 'no'} band)"
                       for j, m in enumerate(metrics)] for i, n in enumerate(names)], dtype=object)
    steps = np.linspace(0, 1, len(colours) + 1)
    scale = [[s, c] for k, c in enumerate(BAND_COLOURS.values()) for s in (steps[k], steps[k + 1])]
    trace = go.Heatmap(z=z, x=["accuracy", "usability", "scalability (training hours)"],
                       y=[method_label(i, n) for i, n in zip(table["method_id"], names)], zmin=-0.5,
                       zmax=len(colours) - 0.5, colorscale=scale, showscale=False, text=text, texttemplate="%{text}",
                       textfont={"color": "black"}, customdata=hover, hovertemplate="%{customdata}<extra></extra>",
                       xgap=2, ygap=2)
    return _figure(trace, f"Guideline: {task_label}", source, 120 + 32 * len(names))


def transfer_heatmap(matrix: pd.DataFrame, source: str, title: str):
    """Figure 4a: a training set × test set matrix, drawn in the matrix's order.

    ``matrix`` is :func:`seggal.analysis.transferability`'s output (index = training set, columns = test
    sets; rows and columns ranked by their mean, ``All`` last, as the paper draws them).
    """
    z = matrix.astype(float)
    rows, columns = [str(r) for r in matrix.index], [str(c) for c in matrix.columns]
    hover = _hover(z, [f"trained on {r}" for r in rows], [f"tested on {c}" for c in columns])
    return _figure(_heatmap(z, rows, columns, hover), title, source, 140 + 30 * len(rows),
                   x_title="test set", y_title="training set")


def _ranked(means: pd.Series) -> list[str]:
    """Labels by mean, highest first, ``All`` last (the order of :func:`seggal.analysis.transferability`)."""
    order = list(means.sort_values(ascending=False, kind="stable").index)
    return sorted(order, key=lambda k: k == "All")


def published_transfer_figure(scores: pd.DataFrame, task: str, source: str):
    """Figure 4's published column: Swin-S trained on one set (or ``All``), scored on the whole test split.

    ``scores`` is :func:`seggal.results.load_scores`'s table; rows ranked by accuracy, ``All`` last.
    """
    task = get_task(task)
    rows = scores[(scores["task"] == task.id) & (scores["method_id"] == "swin-s")]
    column = rows.set_index("training_set")[["accuracy"]].rename(columns={"accuracy": "tested on all"})
    order = _ranked(column["tested on all"])
    z = column.loc[order].astype(float)
    hover = _hover(z, [f"Swin-S trained on {r}" for r in order], [f"{task.label}, whole test split"])
    return _figure(_heatmap(z, order, ["tested on all"], hover),
                   f"Swin-S trained on one set, tested on all: {task.label}", source, 140 + 30 * len(order),
                   y_title="training set")


def tissue_matrix(per_tissue: pd.DataFrame, task: str, metric: str = "accuracy") -> pd.DataFrame:
    """Figure 3a's table for one task: method × test set for models trained on ``All``.

    Methods are ranked by their mean ``All`` score over the tasks present (the paper's order), test sets
    by their mean over methods, with ``All`` last. Index = method id.
    """
    trained_all = per_tissue[per_tissue["training_set"] == "All"]
    overall = trained_all[trained_all["test_set"] == "All"].groupby("method_id")[metric].mean()
    rows = trained_all[trained_all["task"] == get_task(task).id]
    matrix = rows.pivot(index="method_id", columns="test_set", values=metric)
    methods = [m for m in overall.sort_values(ascending=False, kind="stable").index if m in matrix.index]
    return matrix.loc[methods, _ranked(matrix.mean(axis=0))]


def tissue_heatmap(matrix: pd.DataFrame, names: Mapping[str, str], source: str, title: str):
    """Figure 3a: the :func:`tissue_matrix` table as a heatmap (``names``: method id → display name)."""
    y = [method_label(i, names[i]) for i in matrix.index]
    hover = _hover(matrix, [names[i] for i in matrix.index], [f"tested on {c}" for c in matrix.columns])
    return _figure(_heatmap(matrix.astype(float), y, list(matrix.columns), hover), title, source,
                   140 + 28 * len(matrix), x_title="test set")


def coefficient_plot(coefficients: pd.DataFrame, names: Mapping[str, str], source: str, title: str):
    """Figure 3b: regression coefficients with 95 % confidence intervals, one marker per method × predictor.

    ``coefficients`` is :func:`seggal.analysis.regression`'s output for one task (columns method_id,
    term, coef, ci_low, ci_high, p_value …); the intercept is left out. ``names``: method id → name.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    terms = coefficients[coefficients["term"] != "const"]
    for method_id, rows in terms.groupby("method_id", sort=False):
        name = names.get(method_id, method_id)
        fig.add_trace(go.Scatter(
            x=rows["coef"], y=rows["term"], mode="markers", name=name,
            error_x={"type": "data", "symmetric": False, "array": rows["ci_high"] - rows["coef"],
                     "arrayminus": rows["coef"] - rows["ci_low"]},
            customdata=rows[["ci_low", "ci_high", "p_value"]].to_numpy(),
            hovertemplate=f"<b>{name}</b><br>%{{y}}: %{{x:.3g}}<br>95% CI [%{{customdata[0]:.3g}}, "
                          "%{customdata[1]:.3g}]<br>p = %{customdata[2]:.2g}<extra></extra>",
        ))
    fig.add_vline(x=0, line_dash="dot", opacity=0.6)
    fig.update_layout(title=_title(title, source), height=200 + 40 * terms["term"].nunique(),
                      xaxis_title="coefficient (per standard deviation of the predictor)", scattermode="group",
                      margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig


MORPHOLOGY_COLUMNS = {"size": "cell size (pixels)", "elongation": "elongation", "convexity": "convexity",
                      "n_train_images": "training images"}


def morphology_bars(morphology: pd.DataFrame, dataset: str, source: str):
    """Per-tissue morphology of one dataset (Figure 3c / Supplementary Figures 3–5): one bar panel per feature.

    ``morphology`` is a run's ``morphology.csv`` table (per-tissue means); tissues sorted by cell size.
    """
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    rows = morphology[morphology["dataset"] == dataset].sort_values("size", ascending=False)
    fig = make_subplots(rows=1, cols=len(MORPHOLOGY_COLUMNS), subplot_titles=list(MORPHOLOGY_COLUMNS.values()),
                        shared_yaxes=True)
    for k, (column, label) in enumerate(MORPHOLOGY_COLUMNS.items(), start=1):
        fig.add_trace(go.Bar(x=rows[column], y=rows["tissue"], orientation="h", name=label, showlegend=False,
                             hovertemplate=f"<b>%{{y}}</b><br>{label}: %{{x:.3g}}<extra></extra>"), row=1, col=k)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=_title(f"Cell morphology per tissue / cell type: {dataset}", source),
                      height=160 + 26 * len(rows), margin={"l": 10, "r": 10, "t": 100, "b": 10})
    return fig


def sweep_curves(sweeps: pd.DataFrame, names: Mapping[str, str], source: str, title: str,
                 metric: str = "accuracy", by: str = "method_id"):
    """Figure 5b/c: score against pixels dilated / eroded, one line per ``by`` group, best step starred.

    ``sweeps`` holds the rows of one (task, mode, variant) and either one tissue (``by="method_id"``) or
    one method (``by="tissue"``); the star sits at :func:`seggal.sweeps.best_step` of each line.
    """
    import plotly.graph_objects as go

    from seggal.sweeps import best_step

    from plotly.colors import qualitative

    fig = go.Figure()
    for k, (key, rows) in enumerate(sweeps.groupby(by, sort=False)):
        colour = qualitative.Plotly[k % len(qualitative.Plotly)]
        rows = rows.sort_values("px")
        label = names.get(key, key) if by == "method_id" else key
        fig.add_trace(go.Scatter(x=rows["px"], y=rows[metric], mode="lines+markers", name=label, legendgroup=label, line_color=colour,
                                 hovertemplate=f"<b>{label}</b><br>%{{x}} px: {metric} %{{y:.3f}}<extra></extra>"))
        best = best_step(rows, metric=metric)
        peak = rows.loc[rows["px"] == best, metric].iloc[0]
        fig.add_trace(go.Scatter(x=[best], y=[peak], mode="markers", name=f"{label}: best step",
                                 legendgroup=label, showlegend=False,
                                 marker={"symbol": "star", "size": 16, "color": colour},
                                 hovertemplate=f"<b>{label}</b><br>best step: {best} px, {metric} {peak:.3f}<extra></extra>"))
    fig.update_layout(title=_title(title, source), xaxis_title="pixels", yaxis_title=metric, height=420,
                      margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig


__all__ = ["ranking_heatmap", "guideline_figure", "transfer_heatmap", "published_transfer_figure", "tissue_matrix",
           "tissue_heatmap", "coefficient_plot", "morphology_bars", "sweep_curves", "method_label", "MARKS_LEGEND",
           "BAND_COLOURS", "band_css"]
