"""seggal.analysis: the Figure 3b regression and the Figure 4 transferability matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seggal.analysis import PREDICTORS, regression, regression_table, transferability
from seggal.errors import SegGalError
from seggal.tasks import TISSUENET_TISSUES

TASK = "tissuenet-nuclei-dual"


def morphology(rng):
    return pd.DataFrame({
        "dataset": "TissueNet", "tissue": list(TISSUENET_TISSUES),
        "n_train_images": rng.integers(20, 600, 10), "n_cells": 100,
        "size": rng.uniform(60, 300, 10), "elongation": rng.uniform(0.3, 0.9, 10), "convexity": 0.9,
    })


def per_tissue(rng, methods=("swin-s", "cellpose"), metric_fn=None):
    rows = []
    for method in methods:
        for train in ["All", *TISSUENET_TISSUES]:
            for test in ["All", *TISSUENET_TISSUES]:
                value = metric_fn(method, train, test) if metric_fn else rng.uniform()
                rows.append({"method_id": method, "task": TASK, "training_set": train, "test_set": test,
                             "n_images": 5, **{m: value for m in ("mAP", "AP50", "AP75", "AR50", "AR75", "accuracy")}})
    return pd.DataFrame(rows)


def test_regression_recovers_known_coefficients_with_statsmodels_intervals():
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"method_id": "swin-s", "task": TASK, "n_train_images": rng.uniform(10, 500, n),
                       "elongation": rng.uniform(0.3, 0.9, n), "size": rng.uniform(50, 300, n)})
    truth = {"const": 0.1, "n_train_images": 0.0005, "elongation": 0.3, "size": 0.001}
    df["mAP"] = truth["const"] + sum(truth[c] * df[c] for c in PREDICTORS) + rng.normal(0, 0.01, n)
    raw = regression(df, standardize=False).set_index("term")
    design = np.column_stack([np.ones(n), df[list(PREDICTORS)].to_numpy()])
    lstsq = np.linalg.lstsq(design, df["mAP"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(raw.loc[["const", *PREDICTORS], "coef"], lstsq, rtol=1e-8)
    for term, value in truth.items():
        assert raw.loc[term, "ci_low"] <= value <= raw.loc[term, "ci_high"]
    assert raw.loc["elongation", "p_value"] < 1e-6 and (raw.n == n).all()
    z = regression(df).set_index("term")  # standardised: coefficient per standard deviation
    for term in PREDICTORS:
        assert z.loc[term, "coef"] == pytest.approx(raw.loc[term, "coef"] * df[term].std(ddof=0))
        assert z.loc[term, "p_value"] == pytest.approx(raw.loc[term, "p_value"])


def test_regression_table_uses_all_tissue_training_and_drops_lung_and_spleen():
    rng = np.random.default_rng(1)
    morph = morphology(rng)
    table = regression_table(per_tissue(rng), morph)
    assert set(table.tissue) == set(TISSUENET_TISSUES) - {"Lung", "Spleen"}
    assert len(table) == 2 * 8
    row = table[(table.method_id == "swin-s") & (table.tissue == "Colon")].iloc[0]
    assert row["size"] == morph.set_index("tissue").loc["Colon", "size"]
    fits = regression(table)
    assert set(fits.method_id) == {"swin-s", "cellpose"} and set(fits.term) == {"const", *PREDICTORS}
    with pytest.raises(SegGalError, match="Colon"):
        regression_table(per_tissue(rng), morph[morph.tissue != "Colon"])
    with pytest.raises(SegGalError, match="missing column"):
        regression_table(per_tissue(rng), morph.drop(columns="size"))
    with pytest.raises(SegGalError, match="enough rows"):
        regression(table.head(4))


def test_transferability_matrix_values_and_order():
    rng = np.random.default_rng(2)
    score = {t: i / 20 for i, t in enumerate(TISSUENET_TISSUES)}
    df = per_tissue(rng, methods=("swin-s",), metric_fn=lambda m, train, test: 0.5 * score.get(train, 0.45) + 0.4 * score.get(test, 0.2))
    matrix = transferability(df, TASK)
    assert matrix.shape == (11, 11) and matrix.index[-1] == "All" and matrix.columns[-1] == "All"
    source = df.set_index(["training_set", "test_set"])["accuracy"]
    for train in matrix.index:
        for test in matrix.columns:
            assert matrix.loc[train, test] == source[(train, test)]
    row_means = matrix.drop(index="All").mean(axis=1).to_numpy()
    assert (np.diff(row_means) <= 0).all()  # best training set first
    assert matrix.index[0] == TISSUENET_TISSUES[-1]


def test_transferability_bad_requests():
    rng = np.random.default_rng(3)
    df = per_tissue(rng)
    with pytest.raises(SegGalError, match="several methods"):
        transferability(df, TASK)
    with pytest.raises(SegGalError, match="no per-tissue results for task"):
        transferability(df, "livecell-wholecell", "swin-s")
    with pytest.raises(SegGalError, match="two results"):
        transferability(pd.concat([df, df.head(1)]), TASK, "swin-s")
    assert transferability(df, TASK, "cellpose", metric="mAP").shape == (11, 11)
