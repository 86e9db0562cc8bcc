"""Guideline page: six questions (and the pixel size) → a method, training data and checkpoint, with caveats and
reasons (seggal.guideline).

Nothing is recommended before an answer: the page answers once the form is submitted or a link pre-fills it
(``?modality=…&target=…&channels=…&tissue=…&compute=…&annotations=…&pixel_size=…``). The chosen method is
stored in ``st.session_state["seggal_choice"]`` and passed to the Benchmarks and Segment pages as query
parameters.
"""

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from pages.widgets import download_button
from seggal.errors import SegGalError
from seggal.gallery import catalogue_entry
from seggal.guideline import (
    ACCURACY_MARGIN, ANNOTATIONS, CHANNELS, COMPUTE, MODALITIES, ORDERINGS, OTHER, TARGETS, WEIGHTS, Answers, explain,
    ordered, pixel_size_from_optics, recommend,
)
from seggal.guideline.explanations import band_legend, score_formula, scores_note
from seggal.io import read_pixel_size
from seggal.plots import band_css
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
    "no": "No",
    "yes": "Yes, of the tissue / cells I segment",
}
CHANNEL_LABELS = LABELS | {"whole_cell": "Membrane/cytoplasm only (whole-cell channel)"}
COMPUTE_LABELS = LABELS | {"none": "None: inference only (download a gallery model)"}
ORDER_LABELS = {"seggal": "SegGal (your answers)", "overall": "Overall", "accuracy": "Accuracy",
                "usability": "Usability", "scalability": "Scalability"}
FIELDS = ("modality", "target", "channels", "tissue", "compute", "annotations")
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


def _pixel_size(typed: float, camera: float, magnification: float, upload) -> float | None:
    """The pixel size from the uploaded file, else the optics, else the typed value (0 = not given)."""
    if upload is not None:
        return read_pixel_size(upload)
    if camera and magnification:
        return pixel_size_from_optics(camera, magnification)
    return typed or None


def questionnaire() -> tuple[Answers, bool]:
    """(answers, whether the user has answered: submitted the form, now or before, or a link pre-filled it)."""
    try:
        linked = float(st.query_params.get("pixel_size", "") or 0.0)
    except ValueError:
        st.warning(f"Link value ignored: pixel_size {st.query_params['pixel_size']!r} is not a number.")
        linked = 0.0
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
        annotations = st.radio("Own annotations", ANNOTATIONS, _index("annotations", ANNOTATIONS), LABELS.get,
                               key="g_annotations")
        typed = st.number_input("Pixel size (µm per pixel; 0 = unknown)", 0.0, 100.0, max(linked, 0.0), 0.01,
                                format="%.3f", key="g_pixel")
        with st.expander("…or from the objective and camera, or from a TIFF"):
            camera = st.number_input("Camera pixel size (µm)", 0.0, 100.0, 0.0, 0.1, key="g_camera")
            magnification = st.number_input("Total magnification (×)", 0.0, 1000.0, 0.0, 1.0, key="g_magnification")
            upload = st.file_uploader("Image with its pixel size (TIFF)", type=["tif", "tiff"], key="g_image")
        submitted = st.form_submit_button("Recommend", type="primary")
    st.session_state["g_answered"] = st.session_state.get("g_answered", False) or submitted
    answered = st.session_state["g_answered"] or any(k in st.query_params for k in FIELDS)
    pixel = _pixel_size(typed, camera, magnification, upload)
    return Answers(modality, target, channels, tissue or OTHER, compute, annotations, pixel), answered


def methods_table(rows, hours: bool = True) -> "pd.io.formats.style.Styler":
    """Ranked methods with the paper's colour bands on accuracy, usability (and training hours)."""
    table = pd.DataFrame([{
        "method": m.name, "accuracy": m.accuracy, "usability": m.usability, "training hours": m.training_hours,
        "SegGal score": m.seggal_score, "paper scenario score": m.scenario, "overall": m.overall,
        f"within {ACCURACY_MARGIN} of best": "yes" if m.near_best else "no",
        "Figure 6": "yes" if m.in_figure6 else "", "runs here": "yes" if m.available else "no",
        "usage guide": m.usage_guide,
    } for m in rows])
    if not hours:
        table = table.drop(columns="training hours")
    table.index = range(1, len(table) + 1)
    styler = table.style.format({"accuracy": "{:.2f}", "usability": "{:.2f}", "training hours": "{:g}",
                                 "SegGal score": "{:.3f}", "paper scenario score": "{:.3f}", "overall": "{:.3f}"})
    for column, metric in (("accuracy", "accuracy"), ("usability", "usability"), ("training hours", "training_hours")):
        if column in table:
            styler = styler.map(lambda v, metric=metric: band_css(metric, v), subset=[column])
    return styler


LINKS = {"usage guide": st.column_config.LinkColumn("usage guide", display_text="authors' guide")}

st.title("Guideline")
st.caption("Which method, trained on what, for your images and your computer — the paper's guidance "
           "(Figures 3a, 4d, 5 and 6) computed from the published scores.")
try:
    answers, answered = questionnaire()
except SegGalError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
if not answered:
    st.info("Answer the questions in the sidebar and press **Recommend**.", icon=":material/arrow_back:")
    st.stop()

rec = recommend(answers)  # 'runs here' = a ready checkpoint (seggal.gallery)
text = explain(rec)
pick = rec.choice

for caveat in text.caveats:
    st.warning(caveat, icon=":material/warning:")
for note in text.notes:
    st.info(note)
st.success(text.headline)
if not pick.available:
    st.warning(f"{pick.name} has no weights on this machine: {pick.availability_reason}.")
cols = st.columns(3 if answers.compute != "none" else 2)
cols[0].metric("Accuracy", f"{pick.accuracy:.2f}")
cols[1].metric("Usability", f"{pick.usability:.2f}")
if answers.compute != "none":
    cols[2].metric("Training hours", f"{pick.training_hours:g}")
st.markdown(f"[The authors' usage guide for {pick.name}]({pick.usage_guide})")

st.subheader("Why")
st.markdown("\n".join(f"- {r}" for r in text.reasons))
if text.advice:
    st.subheader("Advice")
    st.markdown("\n".join(f"- {a}" for a in text.advice))

st.subheader("Methods for this task")
order = st.segmented_control("Order by", ["seggal", *ORDERINGS], format_func=ORDER_LABELS.get, default="seggal",
                             key="g_order")
rows = rec.methods if order in (None, "seggal") else ordered(rec.methods, order)
st.caption(score_formula(WEIGHTS[answers.compute]) + " " + scores_note() + " " + band_legend())
st.dataframe(methods_table(rows, hours=answers.compute != "none"), column_config=LINKS)
st.subheader("The paper's Figure 6 list")
st.caption("The union of the top three methods by overall score and by this task's accuracy (ties at the cut "
           "kept), ranked by overall.")
st.dataframe(methods_table(rec.figure6), column_config=LINKS)

st.subheader("Open with your choice")
ids = [m.method for m in rec.methods]
names = {m.method: m.name for m in rec.methods}
# Keyed by the recommendation, so that new answers reset it to the new pick.
method = st.selectbox("Method", ids, 0, names.get, key=f"g_open_{rec.task}_{pick.method}",
                      help="SegGal's pick by default; choose another, e.g. one that runs here.")
try:  # the paper's model of this method, task and training set, when the catalogue has it
    entry = catalogue_entry(method, rec.task, rec.training_set)
except SegGalError:
    entry = None
if entry is not None:
    st.markdown(f"The paper's {names[method]} trained on {rec.training_set}: **{entry.state}**"
                + (f" — {entry.reason}" if entry.reason else ""))
    download_button(entry, key="g_download")
ready = entry is not None and entry.ready
st.session_state["seggal_choice"] = {"method": method, "task": rec.task, "training_set": rec.training_set} | (
    {"checkpoint": entry.reference} if ready else {})
params = {"method": method, "task": rec.task}
st.page_link("pages/benchmarks.py", label=f"{names[method]} on the Benchmarks page", icon=":material/leaderboard:",
             query_params=params)
st.page_link("pages/segment.py", label=f"Segment your image with {names[method]}", icon=":material/biotech:",
             query_params=params | {"training_set": rec.training_set} | ({"checkpoint": entry.reference} if ready else {}))
link = {k: getattr(answers, k) for k in FIELDS} | ({"pixel_size": answers.pixel_size_um} if answers.pixel_size_um else {})
st.caption("Link to these answers: `?" + urlencode(link) + "`")
