"""Benchmarks page: the paper's Figures 2a, 6, 3, 4 and 5, interactive, from the published scores or a run folder."""

from pathlib import Path

import streamlit as st

from seggal import plots
from seggal.errors import SegGalError
from seggal.guideline.explanations import band_legend
from seggal.guideline.rules import ORDERINGS
from seggal.ranking import figure6_methods, rank_table, scenario_scores
from seggal.results import RESULTS_DIR, load_scores
from seggal.metrics import METRICS
from seggal.runs import PUBLISHED_SOURCE, find_runs, load_run, run_scores
from seggal.tasks import TASKS, get_task

PUBLISHED = "published"
TABS = ["Ranking (Fig. 2a)", "Guideline (Fig. 6)", "Per tissue (Fig. 3)", "Transferability (Fig. 4)",
        "Dilation & erosion (Fig. 5)"]
TASK_LABELS = {t.id: t.label for t in TASKS}


def show(fig, table, name: str, key: str) -> None:
    """Draw a figure, then its table with a CSV download."""
    st.plotly_chart(fig, key=f"chart-{key}")
    with st.expander(f"Table: {name}"):
        st.dataframe(table)
        st.download_button("Download CSV", table.to_csv().encode(), file_name=f"{key}.csv", mime="text/csv",
                           key=f"csv-{key}", icon=":material/download:")


def task_select(key: str, tasks) -> str:
    return st.selectbox("Task", list(tasks), format_func=TASK_LABELS.get, key=key)


def no_data(what: str) -> None:
    st.info(f"{what} Choose the synthetic demo (`results/demo`) or a SegGal run in the sidebar.",
            icon=":material/info:")


def ranking(run) -> None:
    metrics = METRICS if run is not None else ("accuracy",)
    metric = st.selectbox("Metric", metrics, index=metrics.index("accuracy"), key="rank-metric",
                          help="The published scores hold the accuracy only (mean of mAP, AP50, AP75, AR50, AR75).")
    if run is None:
        table, source = rank_table(), PUBLISHED_SOURCE
    else:
        if run.per_tissue.empty:
            no_data("This run has no per_tissue.csv.")
            return
        table = rank_table(run_scores(run, metric))
        source = run.source
        if table["usability"].notna().any():
            source += "; usability: published (Wang et al. 2024)"
        missing = [c for c in ("usability", "scalability") if table[c].isna().all()]
        if missing:
            st.caption(f"This run does not measure {' or '.join(missing)} (blank); overall is the mean of the "
                       "columns it has.")
    columns = [t.id for t in TASKS] + ["usability", "scalability", "overall"]
    show(plots.ranking_heatmap(table, columns, source, metric), table.set_index("method"), "Figure 2a ranking",
         "ranking")
    st.caption(plots.MARKS_LEGEND)


def guideline(run) -> None:
    if run is not None:
        st.info("Figure 6 is the paper's guideline: it is drawn from the published scores whichever source the "
                "sidebar names.", icon=":material/info:")
    left, right = st.columns(2)
    with left:
        task = get_task(task_select("guide-task", TASK_LABELS))
    with right:  # the SegGal website's per-task ordering control
        order = st.segmented_control("Order by", list(ORDERINGS), format_func=str.capitalize, default="overall",
                                     key="guide-order") or "overall"
    table = scenario_scores(None, task.id).loc[figure6_methods(None, task.id)]
    table["overall"] = rank_table().set_index("method")["overall"]
    table = table.sort_values(ORDERINGS[order], ascending=False, kind="stable")
    show(plots.guideline_figure(table, PUBLISHED_SOURCE, task.label), table, f"Figure 6 {task.label}", "guideline")
    st.caption("Methods: the union of the top three by overall score and by this task's accuracy (ties within the "
               f"published rounding kept at the cut), ordered by {order}. " + band_legend() + " "
               + plots.MARKS_LEGEND)
    st.page_link("pages/guideline.py", label="Get a recommendation for your own images on the Guideline page",
                 icon=":material/recommend:",
                 query_params={"modality": task.modality, "target": task.target, "channels": task.input_channels})


def per_tissue(run) -> None:
    if run is None or not (run.per_tissue["test_set"] != "All").any():
        no_data("The published scores hold whole-test-split accuracies only; per-tissue scores, the regression "
                "and the morphology come from a run folder.")
        return
    tasks = dict.fromkeys(run.per_tissue.loc[run.per_tissue["test_set"] != "All", "task"])
    left, right = st.columns(2)
    with left:
        task = get_task(task_select("tissue-task", tasks))
    with right:
        metric = st.selectbox("Metric", METRICS, index=METRICS.index("accuracy"), key="tissue-metric")
    matrix = plots.tissue_matrix(run.per_tissue, task.id, metric)
    names = {m: run.method_name(m) for m in matrix.index}
    show(plots.tissue_heatmap(matrix, names, run.source, f"{metric} per test set (trained on All): {task.label}"),
         matrix, "Figure 3a", "per-tissue")
    st.subheader("What makes a tissue hard (Fig. 3b)")
    if run.morphology.empty:
        st.info("This run has no morphology.csv, so the regression cannot be fitted.", icon=":material/info:")
    else:
        regression(run, task)
        for dataset in dict.fromkeys(run.morphology["dataset"]):
            rows = run.morphology[run.morphology["dataset"] == dataset]
            show(plots.morphology_bars(run.morphology, dataset, run.source), rows, f"morphology {dataset}",
                 f"morphology-{dataset}")


def regression(run, task) -> None:
    from seggal.analysis import EXCLUDED_TISSUES, regression as fit, regression_table

    try:
        table = regression_table(run.per_tissue, run.morphology)
        coefficients = fit(table[table["task"] == task.id])
    except SegGalError as exc:
        st.warning(f"No regression for {task.label}: {exc}", icon=":material/warning:")
        return
    names = {m: run.method_name(m) for m in coefficients["method_id"].unique()}
    show(plots.coefficient_plot(coefficients, names, run.source, f"mAP ~ training images + elongation + size: "
                                f"{task.label}"), coefficients, "Figure 3b coefficients", "regression")
    st.caption(f"Ordinary least squares per method on the tissues / cell types other than "
               f"{' and '.join(EXCLUDED_TISSUES)} (too few training images, as in the paper); predictors "
               "standardised, bars are 95 % confidence intervals.")


def transferability(run) -> None:
    task = get_task(task_select("transfer-task", TASK_LABELS))
    single = run.per_tissue[(run.per_tissue["training_set"] != "All") & (run.per_tissue["task"] == task.id)] \
        if run is not None else None
    if single is not None and len(single):
        from seggal.analysis import transferability as matrix_of

        methods = list(dict.fromkeys(single["method_id"]))
        method = st.selectbox("Method", methods, format_func=run.method_name, key="transfer-method")
        matrix = matrix_of(run.per_tissue, task.id, method)
        show(plots.transfer_heatmap(matrix, run.source, f"{run.method_name(method)} trained on one set, tested on "
                                    f"each: {task.label}"), matrix, "Figure 4a", "transfer")
    elif run is not None:
        st.info(f"This run has no single-set training for {task.label}.", icon=":material/info:")
    else:
        no_data("A training set × test set matrix needs a run that trained on single tissues / cell types.")
    scores = load_scores()
    published = scores[(scores["task"] == task.id) & (scores["method_id"] == "swin-s")]
    show(plots.published_transfer_figure(scores, task.id, PUBLISHED_SOURCE),
         published[["training_set", "accuracy", "source"]].set_index("training_set"), "Figure 4 published column",
         "transfer-published")


def sweeps(run) -> None:
    if run is None or run.sweeps.empty:
        no_data("The paper publishes its dilation / erosion curves as figures only.")
        return
    table = run.sweeps
    cols = st.columns(4)
    mode = cols[0].selectbox("Mode", list(dict.fromkeys(table["mode"])), key="sweep-mode",
                             format_func={"dilate": "dilate nuclei → whole cells", "erode": "erode whole cells → nuclei"}.get)
    rows = table[table["mode"] == mode]
    variant = cols[1].selectbox("Variant", list(dict.fromkeys(rows["variant"])), key="sweep-variant")
    rows = rows[rows["variant"] == variant]
    with cols[2]:
        task = get_task(task_select("sweep-task", dict.fromkeys(rows["task"])))
    rows = rows[rows["task"] == task.id]
    metric = cols[3].selectbox("Metric", METRICS, index=METRICS.index("accuracy"), key="sweep-metric")
    group = st.radio("Lines", ["method_id", "tissue"], horizontal=True, key="sweep-by", format_func={
        "method_id": "one per method, for a tissue", "tissue": "one per tissue, for a method"}.get)
    names = {m: run.method_name(m) for m in dict.fromkeys(rows["method_id"])}
    if group == "method_id":
        tissue = st.selectbox("Tissue / cell type", list(dict.fromkeys(rows["tissue"])), key="sweep-tissue")
        rows, title = rows[rows["tissue"] == tissue], tissue
    else:
        method = st.selectbox("Method", list(names), format_func=names.get, key="sweep-method")
        rows, title = rows[rows["method_id"] == method], names[method]
    show(plots.sweep_curves(rows, names, run.source, f"{mode} ({variant}) {task.label}: {title}", metric, group),
         rows.reset_index(drop=True), "Figure 5 sweep", "sweep")
    st.caption("★ marks each line's best step. The scores compare the dilated nuclei with the whole-cell ground "
               "truth (dilate) or the eroded whole cells with the nuclear ground truth (erode).")


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_run(folder: str, stamp: tuple):
    """:func:`load_run`, re-read when any file of the folder changes (``stamp``: names and mtimes)."""
    return load_run(folder)


def choose_source():
    """Sidebar: the published scores, a run folder found under results/, or a typed path → run or None."""
    found = {str(p.relative_to(RESULTS_DIR)): p for p in find_runs(RESULTS_DIR)}
    with st.sidebar:
        choice = st.selectbox("Results", [PUBLISHED, *found], key="source", bind="query-params",
                              format_func=lambda c: "Published (Wang et al. 2024)" if c == PUBLISHED else c)
        typed = st.text_input("…or a run folder path", key="source-path", placeholder="results/runs/my-grid")
    folder = Path(typed).expanduser() if typed.strip() else found.get(choice)
    if folder is None:
        st.caption(f"Source: {PUBLISHED_SOURCE}")
        return None
    try:
        stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*"))) if folder.is_dir() else ()
        run = cached_run(str(folder), stamp)
    except SegGalError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    if run.synthetic:
        st.warning(f"**Synthetic demo** — these numbers were produced by SegGal's pipeline on synthetic images, "
                   f"not by the benchmark. {run.meta['description']}", icon=":material/science:")
    else:
        st.caption(f"Source: {run.source}. {run.meta['description']}")
    return run


st.title("Benchmarks")
source_run = choose_source()
for tab, draw in zip(st.tabs(TABS, key="figure", bind="query-params"),
                     (ranking, guideline, per_tissue, transferability, sweeps)):
    if tab.open:
        with tab:
            draw(source_run)
