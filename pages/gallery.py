"""Gallery page: the paper's 138 model slots, their published scores and SegGal's checkpoints for them."""

import streamlit as st

from seggal import gallery, hub
from seggal.errors import SegGalError
from seggal.tasks import get_task
from pages.widgets import download_button

st.title("Gallery")
st.markdown(
    "Every model of the paper — 18 methods × 5 tasks trained on all tissues / cell lines, plus Swin-S trained on "
    "each single tissue / cell line: **138 slots** — with its published scores, and whether SegGal has a "
    f"checkpoint for it: **local** (under `{gallery.checkpoints_dir()}`), **cached** (Hugging Face cache) or "
    f"**on Hub** (organisation `{hub.hub_org()}`, set with `SEGGAL_HUB_ORG`)."
)



@st.cache_data(ttl=600, show_spinner=False)
def hub_listing(org: str) -> set[str] | None:
    """The Hub's repositories of ``org`` (None when unreachable), asked at most every 10 minutes."""
    return hub.hub_repos(org)


online = st.toggle("Check the Hugging Face Hub (needs a network connection)", value=False,
                   help="lists the organisation's repositories on the Hub; the answer is kept for 10 minutes")
on_hub = None
if online:
    with st.spinner(f"Checking the Hugging Face Hub for `{hub.hub_org()}`'s repositories (up to 20 s offline) …"):
        on_hub = hub_listing(hub.hub_org())
    if on_hub is None:
        st.warning("The Hub could not be reached (offline?): showing local and cached checkpoints only.")
try:
    slots = gallery.slots(on_hub=on_hub)
except SegGalError as exc:
    st.error(str(exc))
    st.stop()

labels = {t: get_task(t).label for t in slots["task"].unique()}
methods = dict(zip(slots["method_id"], slots["method"]))
c1, c2, c3, c4 = st.columns(4)
tasks = c1.multiselect("Task", list(labels), format_func=labels.get, placeholder="all tasks")
chosen_methods = c2.multiselect("Method", list(methods), format_func=methods.get, placeholder="all methods")
sets = c3.multiselect("Training set", sorted(slots["training_set"].unique(), key=lambda s: (s != "All", s)),
                      placeholder="all training sets")
status = c4.multiselect("Checkpoint", ["local", "cached", "on Hub", "not available"], placeholder="any")

view = slots
for column, wanted in (("task", tasks), ("method_id", chosen_methods), ("training_set", sets), ("status", status)):
    if wanted:
        view = view[view[column].isin(wanted)]
view = view.reset_index(drop=True)
st.caption(f"{len(view)} of {len(slots)} slots · {int(slots['local'].sum())} local, "
           f"{int(slots['cached'].sum())} cached checkpoints. Scores: Wang et al. 2024 (published).")
st.dataframe(
    view.assign(task=view["task"].map(labels))[
        ["method", "task", "training_set", "accuracy", "usability", "training_hours", "status", "state", "repo_id"]
    ],
    hide_index=True,
    column_config={
        "accuracy": st.column_config.ProgressColumn("accuracy", min_value=0.0, max_value=1.0, format="%.2f"),
        "usability": st.column_config.NumberColumn("usability", format="%.2f"),
        "training_hours": st.column_config.NumberColumn("T_s (h)", format="%.1f"),
    },
)
if view.empty:
    st.stop()

row = view.iloc[st.selectbox(
    "Model", range(len(view)),
    format_func=lambda i: f"{view.at[i, 'method']} — {labels[view.at[i, 'task']]} — {view.at[i, 'training_set']} "
                          f"({view.at[i, 'status']})",
)]
checkpoint = row["reference"]
left, right = st.columns(2)
with left:
    st.metric("Published accuracy", f"{row['accuracy']:.2f}")
    st.markdown(f"Hub repository: `{row['repo_id']}` · status: **{row['status']}**")
    if checkpoint:
        st.code(f"python -m seggal segment --checkpoint {checkpoint} IMAGE", language="bash")
    else:
        st.code(
            f"python -m training.train --method {row['method_id']} --task {get_task(row['task']).short_id} "
            f"--train-set '{row['training_set']}' --data DATA --out {gallery.checkpoints_dir() / row['repo_id'].split('/')[1]}",
            language="bash",
        )
with right:
    entry = gallery.catalogue_entry(row["method_id"], row["task"], row["training_set"])
    st.markdown(f"Paper's weights: **{row['state']}**" + (f" — {row['reason']}" if row["reason"] else "")
                + (f" · [source]({entry.url})" if entry.url else "")
                + (f" · [usage guide]({entry.usage_guide})" if entry.usage_guide else ""))
    download_button(entry, key="gallery_download", here=bool(checkpoint))
    if st.button("Open in Segment", type="primary", disabled=not checkpoint,
                 help="segment an image with this model" if checkpoint else
                 "no checkpoint of this model here yet: download or train it first"):
        st.session_state["seggal_choice"] = {
            "method": row["method_id"], "task": row["task"], "training_set": row["training_set"],
            "checkpoint": checkpoint,
        }
        st.switch_page("pages/segment.py")
