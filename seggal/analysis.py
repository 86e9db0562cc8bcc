"""The paper's analyses of results tables: the Figure 3b regression and the Figure 4 transferability.

* :func:`regression_table` joins per-tissue scores (``per_tissue.csv``: models trained on ``All``,
  tested on one tissue / cell type) with per-tissue morphology (``morphology.csv``), dropping lung and
  spleen as the paper does (too few training images); :func:`regression` then fits, per method and
  task, the multiple linear regression mAP ~ n_train_images + elongation + size (statsmodels OLS) and
  returns coefficients, 95 % confidence intervals and p-values.
* :func:`transferability` pivots per-tissue scores of one method and task into the training set ×
  test set matrix of Figure 4.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seggal.errors import SegGalError

PREDICTORS = ("n_train_images", "elongation", "size")
REGRESSION_COLUMNS = ("method_id", "task", "term", "coef", "ci_low", "ci_high", "p_value", "n", "r_squared")
#: Tissues the paper leaves out of the regression (extremely few training images).
EXCLUDED_TISSUES = ("Lung", "Spleen")


def _require(df, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SegGalError(f"{what}: missing column(s) {', '.join(missing)}")


def regression_table(per_tissue, morphology, exclude: Sequence[str] = EXCLUDED_TISSUES):
    """Rows (method_id, task, tissue, mAP, n_train_images, elongation, size) for :func:`regression`.

    ``per_tissue``: columns as ``per_tissue.csv``; rows with training_set ``All`` and a single test
    tissue are used. ``morphology``: columns as ``morphology.csv`` (dataset, tissue, n_train_images,
    size, elongation …); when it also has a ``target`` column (nuclei / whole_cell) it is matched on
    the task's target too, so nuclear tasks use nuclear morphology.
    """
    import pandas as pd

    from seggal.tasks import get_task

    _require(per_tissue, ("method_id", "task", "training_set", "test_set", "mAP"), "per-tissue results")
    _require(morphology, ("dataset", "tissue", *PREDICTORS), "morphology table")
    rows = per_tissue[(per_tissue["training_set"] == "All") & (per_tissue["test_set"] != "All")]
    rows = rows[~rows["test_set"].isin(list(exclude))].rename(columns={"test_set": "tissue"})
    tasks = {t: get_task(t) for t in rows["task"].unique()}
    rows = rows.assign(dataset=rows["task"].map(lambda t: tasks[t].dataset),
                       target=rows["task"].map(lambda t: tasks[t].target))
    keys = ["dataset", "tissue"] + (["target"] if "target" in morphology.columns else [])
    joined = rows.merge(morphology[keys + list(PREDICTORS)], on=keys, how="left", validate="many_to_one")
    lacking = joined[joined[list(PREDICTORS)].isna().any(axis=1)]
    if len(lacking):
        pairs = sorted({f"{d}/{t}" for d, t in zip(lacking["dataset"], lacking["tissue"])})
        raise SegGalError(f"morphology table has no values for: {', '.join(pairs)}")
    return pd.DataFrame(joined[["method_id", "task", "tissue", "mAP", *PREDICTORS]]).reset_index(drop=True)


def regression(
    df,
    y: str = "mAP",
    x: Sequence[str] = PREDICTORS,
    by: Sequence[str] = ("method_id", "task"),
    standardize: bool = True,
):
    """Multiple linear regression ``y ~ x`` (OLS with intercept) per group of ``by`` → DataFrame with
    columns method_id, task, term, coef, ci_low, ci_high (95 %), p_value, n, r_squared.

    ``standardize``: predictors are z-scored within each group first, so a coefficient is the change
    in ``y`` per standard deviation of that predictor and the three are comparable (p-values and R²
    do not change). Groups with fewer rows than ``len(x) + 2`` cannot be fitted and are left out;
    if none can, :class:`SegGalError`.
    """
    import pandas as pd
    import statsmodels.api as sm

    x = list(x)
    _require(df, [y, *x, *by], "regression input")
    out = []
    for key, group in df.groupby(list(by), sort=True):
        if len(group) < len(x) + 2:
            continue
        design = group[x].astype(float)
        if standardize:
            spread = design.std(ddof=0).replace(0.0, np.nan)
            design = (design - design.mean()) / spread
        if design.isna().any().any():
            continue  # a predictor is constant in this group: its effect is not identifiable
        fit = sm.OLS(group[y].astype(float).to_numpy(), sm.add_constant(design.to_numpy(), has_constant="add")).fit()
        ci = fit.conf_int(alpha=0.05)
        labels = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for i, term in enumerate(["const", *x]):
            out.append(labels | {"term": term, "coef": fit.params[i], "ci_low": ci[i, 0], "ci_high": ci[i, 1],
                                 "p_value": fit.pvalues[i], "n": len(group), "r_squared": fit.rsquared})
    if not out:
        raise SegGalError(f"no group has enough rows (at least {len(x) + 2}) with varying predictors to fit {y} ~ {' + '.join(x)}")
    columns = [*by, *REGRESSION_COLUMNS[2:]]
    return pd.DataFrame(out, columns=columns)


def transferability(per_tissue, task: str, method_id: str | None = None, metric: str = "accuracy"):
    """Figure 4: ``metric`` of models trained on each training set (rows) tested on each test set
    (columns) for one task and method → DataFrame indexed by training_set, columns test_set.

    Rows and columns are ordered by their mean, highest first; ``All`` (all-tissue training / the
    whole test split) goes last on both axes. ``method_id`` may be omitted when the task has one method.
    """
    _require(per_tissue, ("method_id", "task", "training_set", "test_set", metric), "per-tissue results")
    rows = per_tissue[per_tissue["task"] == task]
    if rows.empty:
        known = ", ".join(sorted(per_tissue["task"].unique()))
        raise SegGalError(f"no per-tissue results for task {task!r} (have: {known or 'none'})")
    methods = sorted(rows["method_id"].unique())
    if method_id is None:
        if len(methods) > 1:
            raise SegGalError(f"task {task!r} has results of several methods ({', '.join(methods)}); choose one")
        method_id = methods[0]
    rows = rows[rows["method_id"] == method_id]
    if rows.empty:
        raise SegGalError(f"no per-tissue results for method {method_id!r} on task {task!r} (have: {', '.join(methods)})")
    duplicated = rows.duplicated(["training_set", "test_set"])
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise SegGalError(f"two results for training set {first.training_set!r}, test set {first.test_set!r}")
    matrix = rows.pivot(index="training_set", columns="test_set", values=metric)

    def order(labels, means):
        ranked = means.drop("All", errors="ignore").sort_values(ascending=False, kind="mergesort").index.tolist()
        return ranked + (["All"] if "All" in labels else [])

    matrix = matrix.loc[order(matrix.index, matrix.mean(axis=1)), order(matrix.columns, matrix.mean(axis=0))]
    matrix.index.name, matrix.columns.name = "training_set", "test_set"
    return matrix


#: Supplementary Figure 2's pairs: (target, single-channel task, dual-channel task) on TissueNet.
CHANNEL_PAIRS = (("nuclei", "tissuenet-nuclei-nuclear", "tissuenet-nuclei-dual"),
                 ("whole_cell", "tissuenet-wholecell-wholecell", "tissuenet-wholecell-dual"))


def channel_pairs(per_tissue, metric: str = "accuracy"):
    """Supplementary Figure 2: each method's ``metric`` with one channel and with both, per target and test
    set (models trained on ``All``) → DataFrame method_id, target, test_set, single, dual, gain (dual − single);
    only methods scored on both tasks of a pair appear."""
    import pandas as pd

    _require(per_tissue, ("method_id", "task", "training_set", "test_set", metric), "per-tissue results")
    rows = per_tissue[per_tissue["training_set"] == "All"].set_index(["method_id", "task", "test_set"])[metric]
    out = []
    for target, single, dual in CHANNEL_PAIRS:
        for (method_id, task, test_set), value in rows.items():
            if task == single and (method_id, dual, test_set) in rows.index:
                both = float(rows[(method_id, dual, test_set)])
                out.append({"method_id": method_id, "target": target, "test_set": test_set, "single": float(value),
                            "dual": both, "gain": both - float(value)})
    return pd.DataFrame(out, columns=["method_id", "target", "test_set", "single", "dual", "gain"])
