"""Guideline page: six questions → a method, training data and checkpoint, with the reasons (seggal.guideline).

The questionnaire's defaults come from the URL (``?modality=…&target=…&channels=…&tissue=…&compute=…&annotations=…``)
so a link can pre-fill it. The chosen method is stored in ``st.session_state["seggal_choice"]`` and passed to
the Benchmarks and Segment pages as query parameters.
"""

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from seggal.errors import SegGalError
from seggal.guideline import (
    ACCURACY_MARGIN, ANNOTATIONS, CHANNELS, COMPUTE, MODALITIES, OTHER, TARGETS, WEIGHTS, Answers, band_css,
    recommend,
)
from seggal.tasks import LIVECELL_CELL_TYPES, TISSUENET_TISSUES

LABELS = {
    "fluorescence": "Fluorescence (multiplexed tissue, TissueNet-like)",
    "phase_contrast": "Phase contrast (live cells, LIVECell-like)",
    "nuclei": "Nuclei",
    "whole_cell": "Whole cells",
    "dual": "Nuclear + membrane/cytoplasm (dual)",
    "nuclear": "Nuclear channel only",
    "none": "None",
    "limited": "Limited: one GPU for about a day",
    "ample": "Ample: several GPUs for days",
    "same_tissue": "Yes, of the tissue / cells I segment",
}
CHANNEL_LABELS = LABELS | {"whole_cell": "Membrane/cytoplasm only (whole-cell channel)"}
COMPUTE_LABELS = LABELS | {"none": "None: inference only (download a gallery model)"}
ANNOTATION_LABELS = LABELS | {"none": "No annotations"}


DEFAULTS = Answers()


def _index(key: str, options: tuple[str, ...]) -> int:
    """Position of the URL's value for ``key`` among ``options`` (the default answer when absent or unknown)."""
    value = getattr(DEFAULTS, key)
    if raw := st.query_params.get(key, ""):
        try:  # Answers normalises and validates, as for the CLI
            value = getattr(Answers(**{key: raw}), key)
        except SegGalError as exc:
            st.warning(f"Link value ignored: {exc}.")
    return options.index(value)


def questionnaire() -> Answers:
    with st.sidebar.form("guideline"):
        st.subheader("Your images and resources")
        modality = st.radio("Imaging", MODALITIES, _index("modality", MODALITIES), LABELS.get, key="g_modality")
        target = st.radio("What to segment", TARGETS, _index("target", TARGETS), LABELS.get, key="g_target")
        channels = st.radio("Channels you have", CHANNELS, _index("channels", CHANNELS), CHANNEL_LABELS.get,
                            key="g_channels")
        known = [*TISSUENET_TISSUES, *LIVECELL_CELL_TYPES, OTHER]
        asked = st.query_params.get("tissue", DEFAULTS.tissue).strip() or OTHER
        options = known if asked in known else [asked, *known]
        tissue = st.selectbox("Tissue or cell line (type any name)", options, options.index(asked),
                              accept_new_options=True, key="g_tissue")
        compute = st.radio("Compute for training", COMPUTE, _index("compute", COMPUTE), COMPUTE_LABELS.get,
                           key="g_compute")
        annotations = st.radio("Own annotations", ANNOTATIONS, _index("annotations", ANNOTATIONS),
                               ANNOTATION_LABELS.get, key="g_annotations")
        st.form_submit_button("Recommend", type="primary")
    return Answers(modality, target, channels, tissue or OTHER, compute, annotations)


def methods_table(rows) -> "pd.io.formats.style.Styler":
    """Ranked methods with the paper's colour bands on accuracy, usability and training hours."""
    table = pd.DataFrame([{
        "method": m.name, "accuracy": m.accuracy, "usability": m.usability, "training hours": m.training_hours,
        "SegGal score": m.seggal_score, "paper scenario score": m.scenario,
        f"within {ACCURACY_MARGIN} of best": "yes" if m.near_best else "no",
        "Figure 6": "yes" if m.in_figure6 else "", "runs here": "yes" if m.available else "no",
    } for m in rows])
    table.index = range(1, len(table) + 1)
    styler = table.style.format({"accuracy": "{:.2f}", "usability": "{:.2f}", "training hours": "{:g}",
                                 "SegGal score": "{:.3f}", "paper scenario score": "{:.3f}"})
    for column, metric in (("accuracy", "accuracy"), ("usability", "usability"), ("training hours", "training_hours")):
        styler = styler.map(lambda v, metric=metric: band_css(metric, v), subset=[column])
    return styler


st.title("Guideline")
st.caption("Which method, trained on what, for your images and your computer — the paper's guidance "
           "(Figures 4d, 5 and 6) computed from the published scores.")
answers = questionnaire()
rec = recommend(answers)
pick = rec.choice

for note in rec.notes:
    st.info(note)
training = rec.training_set + (" + fine-tune on your annotations" if rec.fine_tune else "")
st.success(f"**Use {pick.name}** for `{rec.task}`" + {
    "expand_nuclei": ", then expand the nuclei into whole cells",
    "erode_cells": ", then erode the cells into nuclei",
}.get(rec.approach, "") + f"; training data: **{training}**; gallery checkpoint `{rec.checkpoint}`.")
if not pick.available:
    st.warning(f"{pick.name} does not run in this installation: {pick.availability_reason}.")
cols = st.columns(3)
cols[0].metric("Accuracy", f"{pick.accuracy:.2f}")
cols[1].metric("Usability", f"{pick.usability:.2f}")
cols[2].metric("Training hours", f"{pick.training_hours:g}")

st.subheader("Why")
st.markdown("\n".join(f"- {r}" for r in rec.reasons))
if rec.advice:
    st.subheader("Advice")
    st.markdown("\n".join(f"- {a}" for a in rec.advice))

weights = WEIGHTS[answers.compute]
st.subheader("SegGal's ranking for your answers")
st.caption(f"Score = {weights.accuracy} × accuracy + {weights.usability} × usability + {weights.training_time} × "
           f"scalability; only methods within {ACCURACY_MARGIN} of the best accuracy may come first. Colours: "
           "the paper's bands (accuracy, usability ≥ 0.5 blue, ≥ 0.25 yellow, else red; training hours ≤ 24 "
           "blue, ≤ 48 yellow, > 48 red).")
st.dataframe(methods_table(rec.methods))
st.subheader("The paper's Figure 6 list")
st.caption("The union of the top three methods by overall score and by this task's accuracy, ranked by overall.")
st.dataframe(methods_table(rec.figure6))

st.subheader("Open with your choice")
ids = [m.method for m in rec.methods]
names = {m.method: m.name for m in rec.methods}
# Keyed by the recommendation, so that new answers reset it to the new pick.
method = st.selectbox("Method", ids, 0, names.get, key=f"g_open_{rec.task}_{pick.method}",
                      help="SegGal's pick by default; choose another, e.g. one that runs here.")
st.session_state["seggal_choice"] = {"method": method, "task": rec.task, "training_set": rec.training_set}
params = {"method": method, "task": rec.task}
st.page_link("pages/benchmarks.py", label=f"{names[method]} on the Benchmarks page", icon=":material/leaderboard:",
             query_params=params)
st.page_link("pages/segment.py", label=f"Segment your image with {names[method]}", icon=":material/biotech:",
             query_params=params | {"training_set": rec.training_set})
st.caption("Link to these answers: `?" + urlencode({k: getattr(answers, k) for k in (
    "modality", "target", "channels", "tissue", "compute", "annotations")}) + "`")
