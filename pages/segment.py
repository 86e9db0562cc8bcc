"""Segment page: upload (or load an example), map channels, pick a model, segment, inspect, score against
a ground truth, sweep dilation / erosion, compare methods and download the results.

Everything a user loads or computes lives in ``st.session_state`` (one browser session each; nothing is
cached at module level); only models are shared, through ``st.cache_resource``. The work is done by
``seggal`` (upload, examples, backends, tiling, metrics, sweeps, morphology, export).
"""

from __future__ import annotations

import time

import plotly.express as px
import streamlit as st

from seggal import gallery
from seggal.backends.device import pick_device
from seggal.channel_names import suggest_channels
from seggal.errors import SegGalError
from seggal.examples import EXAMPLES, load_example
from seggal.export import label_tiff
from seggal.metrics import METRICS, RANKING_RULE, error_map, evaluate
from seggal.tiling import segment_image
from seggal.methods import METHODS, availability, get_method
from seggal.morphology import cell_table
from seggal.sweeps import best_step, erode, expand, sweep
from seggal.tasks import TASKS, get_task
from seggal.upload import (
    ERROR_CLASSES, MICROSCOPE_TYPES, UPLOAD_TYPES, cli_command, default_mapping, downloads, downsample, error_rgb,
    file_metadata, fitting_task, intensity_warning, limits, load_plane, make_image, n_cells, overlay,
    preview_description, preview_rgb, read_ground_truth, to_pixels,
)

S = st.session_state
TASK_LABELS = {t.id: t.label for t in TASKS}


# ------------------------------------------------------------------------------------ models (shared)

@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _segmenter(method: str, task: str, checkpoint: str, device: str, target: str):
    """One built model per (method, task, checkpoint, device, target), shared by sessions: models only,
    never user data. ``checkpoint`` is the reference of one of :func:`_entries`."""
    entry = next((e for e in _entries(method, task) if e.reference == checkpoint), None)
    if entry is None:
        raise SegGalError(f"{checkpoint or 'no weights'}: not a ready checkpoint of {method} for {task} here")
    return gallery.load(entry, device=device, target=target)


@st.cache_data(ttl=60, show_spinner=False)
def _ready_entries(method: str, task: str, stamp: tuple) -> tuple[gallery.Entry, ...]:
    return tuple(e for e in gallery.entries(method, task) if e.ready)


def _entries(method: str, task: str) -> tuple[gallery.Entry, ...]:
    """The gallery's ready entries for ``method`` and ``task`` (:func:`seggal.gallery.entries`: what runs
    here, offline), the default first; cached until the checkpoint folders change (a pull, a training run:
    :func:`seggal.gallery.stamp`). No user data."""
    return _ready_entries(method, task, gallery.stamp())


def _checkpoints(method: str, task: str) -> dict[str, str]:
    """{reference: label} of :func:`_entries` (``""``: a method that needs no weights)."""
    return {e.reference: e.label for e in _entries(method, task)}


def _default_method(task: str | None) -> str:
    """:func:`seggal.gallery.default_method` — the same default as ``seggal segment``."""
    return gallery.default_method(task)


def _segment(method: str, checkpoint: str, image, task: str, label: str) -> dict:
    """Run one model over the image with a progress bar → result dict (labels, scores, seconds …)."""
    device = pick_device()
    segmenter = _segmenter(method, task, checkpoint, device, get_task(task).target)
    bar = st.progress(0.0, text=f"{label}: starting")
    start = time.perf_counter()
    prediction = segment_image(segmenter, image, progress=lambda done, total: bar.progress(
        done / total, text=f"{label}: window {done} of {total}"))
    bar.empty()
    return {"method": method, "checkpoint": checkpoint, "device": device, "labels": prediction.labels,
            "scores": prediction.scores, "seconds": time.perf_counter() - start, "image_key": S["seg_image_key"]}


def _safe_segment(method: str, checkpoint: str, image, task: str, label: str) -> dict | None:
    """:func:`_segment`, turning any failure of a model into an on-page error (no traceback)."""
    try:
        return _segment(method, checkpoint, image, task, label)
    except SegGalError as err:
        st.error(f"{label}: {err}")
    except Exception as err:  # noqa: BLE001 — a third-party model can fail in any way; show it, keep the page
        st.error(f"{label} failed: {type(err).__name__}: {err}")
    return None


# ------------------------------------------------------------------------------------ session state

def _new_image(name: str, pixels, planes: int = 1, ground_truth=None, source: str = "", mapping=None,
               metadata=None) -> None:
    """Make ``pixels`` ((H, W, C) float32, plane 1 of a file holding ``planes``) this session's image;
    forget results of the previous one. The decoded file itself is not kept. ``metadata``
    (:class:`seggal.io.FileMetadata`): the file's channel names (a suggested mapping when they name
    the stains) and pixel size."""
    names = metadata.channel_names if metadata and len(metadata.channel_names) == pixels.shape[2] else ()
    suggested = suggest_channels(names) if names else (None, None)
    from_names = mapping is None and suggested != (None, None)
    S["seg_image_id"] = S.get("seg_image_id", 0) + 1
    S["seg_source"] = {"name": name, "planes": planes, "note": source,
                       "mapping": suggested if from_names else mapping, "from_names": from_names,
                       "channel_names": names, "pixel_size_um": metadata.pixel_size_um if metadata else None}
    S["seg_pixel_size"] = float(metadata.pixel_size_um) if metadata and metadata.pixel_size_um else 0.0
    S["seg_gt"] = ground_truth
    for key in ("seg_result", "seg_compare", "seg_sweep", "seg_gt_error"):
        S.pop(key, None)
    S["seg_pixels"] = ((S["seg_image_id"], 0), pixels)
    if ground_truth is None:
        S.pop("seg_gt_id", None)  # an uploaded ground truth is checked again against the new image
    for key in ("seg_nuclear", "seg_membrane", "seg_plane"):
        S.pop(key, None)


def _forget_scores() -> None:
    """Drop scores computed against a previous ground truth (the results themselves stay)."""
    for result in (S.get("seg_result"), *S.get("seg_compare", [])):
        if result:
            result.pop("scores_vs_gt", None)
            result.pop("errors", None)
    S.pop("seg_sweep", None)


def _clear_image() -> None:
    for key in ("seg_source", "seg_gt", "seg_result", "seg_compare", "seg_sweep", "seg_pixels"):
        S.pop(key, None)


def _pixels(source: dict, plane: int, upload):
    """The session's (H, W, C) float32 pixels for ``plane``: another plane of a stack is decoded again
    from the ``upload`` still held by the file uploader (only one plane is kept in the session)."""
    key = (S["seg_image_id"], plane)
    if S.get("seg_pixels", (None,))[0] != key:
        if upload is None:
            raise SegGalError(f"{source['name']}: upload the file again to choose another plane")
        S["seg_pixels"] = (key, load_plane(upload.getvalue(), source["name"], plane)[0])
    return S["seg_pixels"][1]


def _apply_choice() -> None:
    """Pre-select method / task / checkpoint from the Guideline or Gallery page (``seggal_choice``) or
    from the URL (``?method=…&task=…``) — once per distinct choice, or when the widgets were reset."""
    choice = dict(S.get("seggal_choice") or {})
    params = st.query_params
    for key in ("method", "task", "training_set", "checkpoint"):
        if params.get(key):
            choice[key] = params.get(key)
    if not choice:
        return
    wanted = tuple(sorted((k, str(v)) for k, v in choice.items()))
    if S.get("seg_applied_choice") == wanted and "seg_method" in S:
        return
    S["seg_applied_choice"] = wanted
    try:
        if choice.get("method"):
            S["seg_method"] = get_method(choice["method"]).id
        if choice.get("task"):
            S["seg_task"] = get_task(choice["task"]).id
    except SegGalError as err:
        st.warning(f"Ignoring the pre-selected model: {err}")
        return
    S["seg_wanted_checkpoint"] = (choice.get("checkpoint"), choice.get("training_set"))


# ------------------------------------------------------------------------------------ page

st.title("Segment")
st.caption("Upload an image (or load an example), choose a model, segment it, score it against your annotation, "
           "and export the masks. Your images and results stay in this browser session.")

S.setdefault("seg_image_id", 0)
_apply_choice()

# ---- 1. image
st.header("1 · Image")
left, right = st.columns([2, 1])
with right:
    example_key = st.selectbox("Example", list(EXAMPLES), format_func=EXAMPLES.get, key="seg_example")
    if st.button("Load the example and segment it", type="primary", key="seg_example_button"):
        try:
            example = load_example(example_key)
        except SegGalError as err:
            st.error(str(err))
        else:
            _new_image(example.file_name, to_pixels(example.pixels, example.file_name), 1, example.ground_truth,
                       example.source, (example.nuclear, example.membrane))
            chosen = dict(S.get("seg_applied_choice") or ())  # a model picked on the Gallery / Guideline page
            if not (chosen.get("task") and get_task(chosen["task"]).id == example.task and "seg_method" in S):
                S["seg_task"] = example.task  # else keep that model: never swap in another silently
                S["seg_method"] = _default_method(example.task)
                S.pop("seg_checkpoint", None)
            S["seg_run_requested"] = True
with left:
    upload_limits = limits(st.get_option("server.maxUploadSize"))
    upload = st.file_uploader("Image: TIFF (OME-TIFF), PNG, JPG or a microscope file (CZI, LIF, ND2) — 1 to 3 "
                              "channels, or more whose names say which is nuclear and which membrane",
                              type=[*UPLOAD_TYPES, *MICROSCOPE_TYPES], key="seg_upload", help=upload_limits)
    st.caption(f"{upload_limits} Larger files: segment them with the command line, block by block: "
               f"`{cli_command('FILE', large=True)}`.")
    if upload is not None and upload.file_id != S.get("seg_upload_id"):
        S["seg_upload_id"] = upload.file_id
        S.pop("seg_upload_error", None)
        try:
            _new_image(upload.name, *load_plane(upload.getvalue(), upload.name),
                       metadata=file_metadata(upload.getvalue(), upload.name))
        except SegGalError as err:
            _clear_image()
            S["seg_upload_error"] = str(err)
    if upload is not None and S.get("seg_upload_error"):
        st.error(S["seg_upload_error"])

source = S.get("seg_source")
if source is None:
    st.info("Upload an image or load an example to begin.")
    st.stop()

plane = 0
if source["planes"] > 1:
    plane = st.number_input(f"{source['name']} is a stack of {source['planes']} planes: segment plane",
                            min_value=1, max_value=source["planes"], value=1, key="seg_plane") - 1
S["seg_image_key"] = (S["seg_image_id"], plane)  # results belong to one image and plane
try:
    pixels = _pixels(source, plane, upload)
except SegGalError as err:
    st.error(str(err))
    st.stop()

n_channels = pixels.shape[2]
guess = source["mapping"] or default_mapping(pixels, get_task(S.get("seg_task", TASKS[0].id)).input_channels)
channel_options = [None, *range(n_channels)]
file_names = source.get("channel_names") or ()


def channel_name(c: int | None) -> str:
    """``channel 2 · E-cadherin`` (the file's name for it, when it has one)."""
    if c is None:
        return "none"
    return f"channel {c + 1}" + (f" · {file_names[c]}" if c < len(file_names) and file_names[c] else "")



if S.get("seg_nuclear", -1) not in channel_options or S.get("seg_membrane", -1) not in channel_options:
    S["seg_nuclear"], S["seg_membrane"] = guess  # a new image: its first mapping, and a task it can feed
    S["seg_task"] = fitting_task(S.get("seg_task", TASKS[0].id), *guess)
if source["note"]:
    st.caption(f"Example — {source['note']}")
map_nuclear, map_membrane, info = st.columns(3)
nuclear = map_nuclear.selectbox("Nuclear channel", channel_options, format_func=channel_name, key="seg_nuclear")
membrane = map_membrane.selectbox("Membrane / cytoplasm channel", channel_options, format_func=channel_name,
                                  key="seg_membrane")
info.markdown(f"**{source['name']}** · {pixels.shape[0]} × {pixels.shape[1]} px · {n_channels} channel(s)")
if source.get("from_names"):
    chosen_names = [f"{role} = {channel_name(c)}" for role, c in zip(("nuclear", "membrane"), source["mapping"])
                    if c is not None]
    st.caption(f"Channels mapped from the file's channel names ({', '.join(file_names)}): "
               f"{'; '.join(chosen_names)}. Change them above if that is wrong.")
pixel_size = st.number_input("Pixel size (µm per pixel; 0 = unknown) — gives cell areas in µm²", min_value=0.0,
                             max_value=1000.0, step=0.01, format="%.4f", key="seg_pixel_size")
if source.get("pixel_size_um"):
    st.caption(f"Pixel size {source['pixel_size_um']:.4g} µm read from the file's metadata.")
pixel_size_um = pixel_size or None

display = downsample(pixels)
base_rgb = preview_rgb(display, nuclear, membrane)
st.image(base_rgb, caption=f"Preview (percentile contrast; {preview_description(nuclear, membrane, channel_name)})",
         width=min(512, display.shape[1]))

gt_upload = st.file_uploader("Ground truth (optional): a label image of the same size, 0 = background",
                             type=list(UPLOAD_TYPES), key="seg_gt_upload")
if gt_upload is not None and gt_upload.file_id != S.get("seg_gt_id"):
    S["seg_gt_id"] = gt_upload.file_id
    _forget_scores()
    try:
        S["seg_gt"] = read_ground_truth(gt_upload.getvalue(), gt_upload.name, pixels.shape[:2])
        S["seg_gt_error"] = None
    except SegGalError as err:
        S["seg_gt"], S["seg_gt_error"] = None, str(err)
if S.get("seg_gt_error"):
    st.error(S["seg_gt_error"])
ground_truth = S.get("seg_gt")
if ground_truth is not None:
    st.caption(f"Ground truth: {n_cells(ground_truth)} annotated cells.")
    if gt_upload is not None:
        if S.get("seg_gt_warning_id") != S.get("seg_gt_id"):  # checked once per uploaded file
            S["seg_gt_warning_id"], S["seg_gt_warning"] = S.get("seg_gt_id"), intensity_warning(ground_truth,
                                                                                                 gt_upload.name)
        if S["seg_gt_warning"]:
            st.warning(S["seg_gt_warning"])

# ---- 2. model
st.header("2 · Model")
method_ids = [m.id for m in METHODS]
if S.get("seg_method") not in method_ids:
    S["seg_method"] = _default_method(S.get("seg_task"))
task_col, method_col, checkpoint_col = st.columns(3)
task_id = task_col.selectbox("Task", list(TASK_LABELS), format_func=TASK_LABELS.get, key="seg_task")
task = get_task(task_id)


def _method_label(method: str) -> str:
    status = availability(method)
    if not status.available:
        return f"{get_method(method).name} — not installed here"
    return f"{get_method(method).name} — {'ready' if _checkpoints(method, task_id) else 'no trained weights here'}"


method_id = method_col.selectbox("Method", method_ids, key="seg_method", format_func=_method_label)
checkpoints = _checkpoints(method_id, task_id) if availability(method_id).available else {}
wanted = S.pop("seg_wanted_checkpoint", None)
if wanted:
    reference, training_set = wanted
    match = [e.reference for e in _entries(method_id, task_id)
             if e.reference == reference or (not reference and e.training_set == training_set)]
    if match:
        S["seg_checkpoint"] = match[0]
    elif reference:
        st.warning(f"Checkpoint {reference} is not on this machine (neither local nor in the Hugging Face cache); "
                   "download it once while online, or pick another below.")
if S.get("seg_checkpoint") not in checkpoints:
    S.pop("seg_checkpoint", None)
checkpoint = checkpoint_col.selectbox("Checkpoint", list(checkpoints), format_func=checkpoints.get,
                                      key="seg_checkpoint", placeholder="none available here")
if checkpoint is not None:
    checkpoint_col.caption(checkpoints[checkpoint])  # the full label: the select box cuts long ones
device = pick_device()
method = get_method(method_id)
st.caption(f"Runs on: **{'GPU (CUDA)' if device.startswith('cuda') else 'CPU'}** · {method.architecture}"
           + ("" if method.in_paper else f" — {method.notes}"))
status = availability(method_id)
if not status.available:
    st.warning(f"{method.name} does not run in this installation: {status.reason}")
elif not checkpoints:
    st.warning(f"{method.name} has no trained weights for {task.label} here (no local or cached checkpoint, "
               "no pretrained weights on disk). Train one (`python -m training.train`) or pick another method.")

try:
    image = make_image(pixels, nuclear, membrane, task.input_channels, source["name"])
except SegGalError as err:
    image = None
    st.error(str(err))

ready = image is not None and checkpoint is not None
run = st.button("Segment", type="primary", disabled=not ready, key="seg_run")
if (run or S.pop("seg_run_requested", False)) and ready:
    result = _safe_segment(method_id, checkpoint, image, task_id, method.name)
    if result is not None:
        S["seg_result"] = result
        S.pop("seg_sweep", None)

result = S.get("seg_result")
if result is None or result["image_key"] != S["seg_image_key"]:
    st.stop()

# ---- 3. result
labels = result["labels"]
st.header("3 · Result")
table_key = (pixel_size_um, file_names)
if result.get("table_key") != table_key:  # per-cell table: morphology, intensity per channel, µm² when known
    result["table"] = cell_table(labels, pixel_size_um=pixel_size_um, intensities=pixels,
                                 channel_names=list(file_names) or None)
    result["table_key"] = table_key
    result.pop("files", None)
table = result["table"]
count = len(table)
count_col, time_col = st.columns(2)
count_col.metric("Cells found", f"{count}")
time_col.metric("Time", f"{result['seconds']:.1f} s")
st.markdown(f"**{count} cells** found by {get_method(result['method']).name} "
            f"(checkpoint: {result['checkpoint'] or 'none'}; on {result['device'].upper()}).")

style_col, opacity_col, pick_col = st.columns(3)
style = style_col.radio("Overlay", ["outlines", "filled"], horizontal=True, key="seg_style")
opacity = opacity_col.slider("Opacity", 0.0, 1.0, 0.8, 0.05, key="seg_opacity")
picked = pick_col.number_input("Highlight cell (label, 0 = none)", 0, int(labels.max()), 0, key="seg_pick")
image_col, table_col = st.columns([3, 2])
with table_col:
    selection = st.dataframe(table.round(3), hide_index=True, on_select="rerun", selection_mode="single-row",
                             key="seg_cells", height=360)
    rows = selection.selection.rows if selection else []
    highlight = int(table.iloc[rows[0]]["label"]) if rows else int(picked)
with image_col:
    shown = downsample(labels, 1024)
    st.image(overlay(base_rgb, shown, style, opacity, highlight or None),
             caption=f"{style} at {opacity:.0%} opacity" + (f"; cell {highlight} in magenta" if highlight else ""),
             width="stretch")

if count:
    for col, feature in zip(st.columns(3), ("size", "convexity", "elongation")):
        figure = px.histogram(table, x=feature, nbins=30, labels={feature: f"cell {feature}"})
        figure.update_layout(height=240, margin=dict(l=10, r=10, t=30, b=10), showlegend=False)
        col.plotly_chart(figure, key=f"seg_hist_{feature}")

# ---- 4. scores
if ground_truth is not None:
    st.header("4 · Scores against the ground truth")
    if "scores_vs_gt" not in result:
        result["scores_vs_gt"] = evaluate([ground_truth], [labels], [result["scores"]])
        result["errors"] = error_map(ground_truth, labels)
    scores = result["scores_vs_gt"]
    for col, key in zip(st.columns(len(METRICS)), METRICS):
        col.metric(key, f"{scores[key]:.3f}")
    st.caption(f"COCO metrics as in the paper: {scores['n_gt']} annotated cells, {scores['n_pred']} predicted. "
               f"{RANKING_RULE}")
    legend = " · ".join(
        f"<span style='color:rgb{colour}'>■</span> {name}" for name, colour in ERROR_CLASSES.values())
    map_col, legend_col = st.columns([3, 2])
    map_col.image(error_rgb(base_rgb, downsample(result["errors"], 1024)), caption="Error map at IoU 0.5",
                  width="stretch")
    legend_col.markdown(legend, unsafe_allow_html=True)
    legend_col.caption("A prediction is a true positive when it overlaps an annotated cell with IoU ≥ 0.5; "
                       "false negatives are annotated cells that no prediction matched.")

# ---- 5. dilation / erosion
st.header("5 · Dilation / erosion")
st.caption("The paper found that growing or shrinking every mask by a few pixels can raise the scores "
           "(its Figure 5). Positive values grow the masks, negative values shrink them.")
variant = st.radio("Growth", ["expand", "binary"], horizontal=True, key="seg_variant",
                   format_func=lambda v: {"expand": "expand without merging cells", "binary": "binary dilation"}[v])
if ground_truth is not None:
    mode = st.radio("Sweep", ["dilate", "erode"], horizontal=True, key="seg_sweep_mode")
    if st.button("Run the sweep", key="seg_sweep_button"):
        with st.spinner("Scoring every step…"):
            growth = variant if mode == "dilate" else "binary"  # erosion is per-instance binary only
            S["seg_sweep"] = {"mode": mode, "variant": growth,
                              "table": sweep([labels], [ground_truth], mode=mode, method=growth, max_px=10,
                                             scores=[result["scores"]])}
    done = S.get("seg_sweep")
    if done:
        best = best_step(done["table"], "accuracy")
        long = done["table"].melt(id_vars="px", value_vars=list(METRICS), var_name="metric", value_name="score")
        figure = px.line(long, x="px", y="score", color="metric", markers=True,
                         title=f"Scores after {done['mode']} ({done['variant']}) by N pixels")
        figure.add_vline(x=best, line_dash="dash")
        st.plotly_chart(figure, key="seg_sweep_chart")
        in_um = f" = {best * pixel_size_um:.3g} µm at {pixel_size_um:g} µm/px" if pixel_size_um else ""
        st.markdown(f"**Best step: {done['mode']} by {best} px{in_um}** (highest accuracy, "
                    f"{done['table'].set_index('px').loc[best, 'accuracy']:.3f}; at 0 px "
                    f"{done['table'].set_index('px').loc[0, 'accuracy']:.3f}, the scores above).")
step = st.slider("Preview: grow (+) or shrink (−) every mask by", -10, 10, 0, key="seg_step")
if step > 0:
    changed = expand(labels, step, method=variant)
elif step < 0:
    changed = erode(labels, -step)
else:
    changed = labels
st.image(overlay(base_rgb, downsample(changed, 1024), style, opacity), width=min(640, base_rgb.shape[1] * 2),
         caption=f"Masks {'grown' if step > 0 else 'shrunk' if step < 0 else 'unchanged'} by {abs(step)} px"
                 + (f" ({abs(step) * pixel_size_um:.3g} µm)" if pixel_size_um and step else ""))
st.download_button(f"Download masks at {step:+d} px (TIFF)", label_tiff(changed),
                   file_name=f"{source['name'].rsplit('.', 1)[0]}_labels_{step:+d}px.tif", mime="image/tiff",
                   key="seg_download_step")

# ---- 6. compare
st.header("6 · Compare methods")
runnable = {m: next(iter(_checkpoints(m, task_id))) for m in method_ids
            if availability(m).available and _checkpoints(m, task_id)}
chosen = st.multiselect("Up to three methods, on this image and task, each with its first checkpoint", list(runnable),
                        default=[result["method"]] if result["method"] in runnable else None,
                        format_func=lambda m: get_method(m).name, max_selections=3, key="seg_compare_methods")
if st.button("Compare", disabled=not chosen or image is None, key="seg_compare_button"):
    S["seg_compare"] = [r for r in (_safe_segment(m, runnable[m], image, task_id, get_method(m).name)
                                    for m in chosen) if r is not None]
compared = [r for r in S.get("seg_compare", []) if r["image_key"] == S["seg_image_key"]]
if compared:
    for col, other in zip(st.columns(3), compared):
        with col:
            st.subheader(get_method(other["method"]).name)
            st.image(overlay(base_rgb, downsample(other["labels"], 1024), style, opacity), width="stretch")
            st.markdown(f"{n_cells(other['labels'])} cells · {other['seconds']:.1f} s")
    if ground_truth is not None:  # one row per method, every metric a column, full width: nothing cut off
        rows = []
        for other in compared:
            other.setdefault("scores_vs_gt", evaluate([ground_truth], [other["labels"]], [other["scores"]]))
            rows.append({"method": get_method(other["method"]).name, "cells": n_cells(other["labels"]),
                         **{k: round(other["scores_vs_gt"][k], 3) for k in METRICS}})
        st.dataframe(rows, hide_index=True, width="stretch", key="seg_compare_table")

# ---- 7. downloads
st.header("7 · Downloads")
if "files" not in result:
    result["files"] = downloads(labels, source["name"], result["scores"], table)
titles = {"tiff": "Label image (TIFF)", "scores": "Cell confidences (.scores.csv)", "coco": "COCO json",
          "geojson": "QuPath (GeoJSON)", "csv": "Per-cell table (CSV)", "roi": "ImageJ ROIs (zip)"}
offered = [(key, title) for key, title in titles.items() if key in result["files"]]
for start in range(0, len(offered), 3):  # three a row: wider rows cut the buttons' titles
    for col, (key, title) in zip(st.columns(3), offered[start:start + 3]):
        file = result["files"][key]
        col.download_button(title, file.data, file_name=file.file_name, mime=file.mime, key=f"seg_download_{key}",
                            width="stretch")
st.caption("The per-cell table has size, shape, mean and integrated intensity per channel"
           + (f" and area in µm² (at {pixel_size_um:g} µm/px)" if pixel_size_um else
              " (enter the pixel size above for areas in µm²)")
           + ". The GeoJSON opens in QuPath with File ▸ Import objects.")
