"""Widgets two pages share (not a page: app.py's navigation lists the pages)."""

import streamlit as st

from seggal import gallery
from seggal.errors import SegGalError


def download_button(entry: gallery.Entry, key: str, here: bool = False) -> None:
    """A "Download" button for a catalogue ``entry``: enabled when it is downloadable and no checkpoint of the
    slot is ``here`` already (e.g. a local one); pulls it through
    :func:`seggal.gallery.pull` (the Hub mirror, then the original; converted into the Hugging Face cache)
    with a progress bar, then reruns the page, where the entry is ready. Errors are shown, never raised."""
    downloadable = entry.state == "downloadable" and not here
    why = "a checkpoint of this model is already here" if here else f"{entry.label}: {entry.state}" + (
        f" ({entry.reason})" if entry.reason else "")
    if not st.button("Download", key=key, disabled=not downloadable,
                     help="download, convert and keep it in the Hugging Face cache (needs a network)"
                     if downloadable else why):
        return
    bar = st.progress(0.0, text=f"downloading {entry.label} …")

    def progress(done: int, total: int | None) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"downloading {entry.label}: {done / 1e6:.1f} MB")

    try:
        with st.spinner("downloading and converting …"):
            gallery.pull(entry, progress=progress)
    except SegGalError as exc:
        st.error(str(exc))
    else:
        st.rerun()
