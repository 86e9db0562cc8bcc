"""The paper's Ranking Scheme (Methods, "Ranking Scheme"), exactly.

* normalisation: scale a raw score across the 18 methods to mean 0 and standard deviation 1 (the
  population standard deviation, ``ddof=0``, as a standard scaler does), then map it through the
  standard-normal cumulative distribution function → (0, 1);
* scalability = 1 − mean of the normalised running times of three task groups: TissueNet nuclei (mean
  of its dual and nuclear tasks' T_s), TissueNet whole cell (mean of its two tasks), LIVECell;
* overall = mean of the five task accuracies, the averaged usability score and the scalability score;
* the running time that enters scalability is the paper's *standardised* time T_s
  (:func:`standardised_hours`, Methods, "Scalability"), which training records for every run.

The published ``usability`` column is already the averaged normalised usability score, so it enters as
is. A *scenario* score (Figure 6) is the same equal-weight mean restricted to one task: that task's
accuracy, usability, and 1 − the normalised running time of that task.
"""

from __future__ import annotations

import pandas as pd
from scipy.special import ndtr  # standard-normal CDF; lighter to import than scipy.stats

from seggal.errors import SegGalError
from seggal.results import all_tissue_scores
from seggal.tasks import TASKS, get_task


def standardised_hours(hours: float, batch_size: int, *, epochs: int | None = None,
                       iterations: int | None = None, n_images: int | None = None) -> float:
    """The paper's standardised running time T_s (Methods, "Scalability"), in the unit of ``hours``.

    Epoch-based training: T_s = T × B/8 × 50/E. Iteration-based (``iterations`` given, with the number
    of training images ``n_images``): T_s = T × B/8 × 50·N/(I·B), with B the batch size, E the epochs,
    I the iterations and N the training images — the formulas exactly as the paper writes them (the
    iteration form is the epoch form with E = I·B/N epochs).
    """
    if hours < 0 or batch_size <= 0:
        raise SegGalError(f"standardised time: need hours >= 0 and batch size > 0, got {hours}, {batch_size}")
    if iterations is not None:
        if iterations <= 0 or n_images is None or n_images <= 0:
            raise SegGalError("standardised time: iterations and the number of training images must be > 0, "
                              f"got {iterations}, {n_images}")
        return hours * batch_size / 8 * 50 * n_images / (iterations * batch_size)
    if epochs is None or epochs <= 0:
        raise SegGalError(f"standardised time: give epochs > 0, or iterations and the number of training images, "
                          f"got epochs={epochs}")
    return hours * batch_size / 8 * 50 / epochs


def normalise(values: pd.Series) -> pd.Series:
    """z-score (population std) then standard-normal CDF; a constant column maps to 0.5 everywhere."""
    values = values.astype(float)
    std = values.std(ddof=0)
    z = (values - values.mean()) / std if std > 0 else values * 0.0
    return pd.Series(ndtr(z), index=values.index)


def _wide(scores: pd.DataFrame, column: str) -> pd.DataFrame:
    """methods × tasks table of one column, from models trained on all tissues / cell types."""
    table = all_tissue_scores(scores).pivot(index="method", columns="task", values=column)
    return table[[t.id for t in TASKS]]


def scalability(scores: pd.DataFrame | None = None) -> pd.Series:
    """Scalability score per method: 1 − mean over the three task groups of the normalised T_s."""
    hours = _wide(all_tissue_scores(scores), "training_hours")
    groups = {}
    for group in dict.fromkeys(t.group for t in TASKS):
        members = [t.id for t in TASKS if t.group == group]
        groups[group] = normalise(hours[members].mean(axis=1))
    return 1.0 - pd.DataFrame(groups).mean(axis=1)


def rank_table(scores: pd.DataFrame | None = None, task: str | None = None) -> pd.DataFrame:
    """The Figure 2a table, sorted by ``overall`` (or by one task's scenario score when ``task`` is given).

    Columns: ``method``, ``method_id``, one accuracy column per task id, ``usability``, ``scalability``,
    ``overall`` (and ``scenario`` when ``task`` is given). One row per method, best first.
    """
    scores = all_tissue_scores(scores)
    table = _wide(scores, "accuracy")
    firsts = scores.drop_duplicates("method").set_index("method")
    table["usability"] = firsts["usability"]
    table["scalability"] = scalability(scores)
    table["overall"] = table[[t.id for t in TASKS] + ["usability", "scalability"]].mean(axis=1)
    table.insert(0, "method_id", firsts["method_id"])
    sort_by = "overall"
    if task is not None:
        table["scenario"] = scenario_scores(scores, task)["scenario"]
        sort_by = "scenario"
    return table.sort_values([sort_by, "overall"], ascending=False).reset_index()


def scenario_scores(scores: pd.DataFrame | None, task: str) -> pd.DataFrame:
    """One task's Figure 6 view: accuracy, usability, training_hours, scenario scalability and score.

    ``scenario`` = mean(accuracy, usability, 1 − normalised T_s of this task). Indexed by method name,
    sorted best first.
    """
    task_id = get_task(task).id
    scores = all_tissue_scores(scores)
    rows = scores[scores["task"] == task_id].set_index("method")
    out = rows[["method_id", "accuracy", "usability", "training_hours"]].copy()
    out["scalability"] = 1.0 - normalise(out["training_hours"])
    out["scenario"] = out[["accuracy", "usability", "scalability"]].mean(axis=1)
    return out.sort_values("scenario", ascending=False)


#: The published accuracies and usability scores have two decimals: two values this close are a tie.
PUBLISHED_TIE = 0.01


def tied_with_best(values: pd.Series, tolerance: float = PUBLISHED_TIE) -> pd.Series:
    """The entries of ``values`` within ``tolerance`` of its largest (NaN never ties), in the given order."""
    return values[values >= values.max() - tolerance - 1e-9]


def _top(values: pd.Series, top: int, tolerance: float) -> pd.Series:
    """The ``top`` largest values plus every value tied (within ``tolerance``) with the last of them."""
    cut = values.nlargest(top).iloc[-1]
    return values[values >= cut - tolerance - 1e-9]


def figure6_methods(scores: pd.DataFrame | None, task: str, top: int = 3) -> list[str]:
    """Figure 6's rule: the union of the top ``top`` by overall and by this task's accuracy, by overall.

    A cut never splits a tie: every method whose accuracy is within :data:`PUBLISHED_TIE` of the
    ``top``-th accuracy is kept, and every method whose overall score equals the ``top``-th (the overall
    score is computed, so only an exact tie counts).
    """
    table = rank_table(scores).set_index("method")
    task_id = get_task(task).id
    chosen = set(_top(table["overall"], top, 0.0).index) | set(_top(table[task_id], top, PUBLISHED_TIE).index)
    return [m for m in table.index if m in chosen]


__all__ = ["PUBLISHED_TIE", "standardised_hours", "normalise", "scalability", "rank_table", "scenario_scores",
           "figure6_methods", "tied_with_best"]
