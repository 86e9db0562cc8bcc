"""SegGal dashboard: landing page and navigation. Pages live in pages/; the work is done in seggal/."""

import streamlit as st

st.set_page_config(page_title="SegGal", page_icon=":microscope:", layout="wide")

PAGES = {
    "guideline": st.Page("pages/guideline.py", title="Guideline", icon=":material/recommend:"),
    "benchmarks": st.Page("pages/benchmarks.py", title="Benchmarks", icon=":material/leaderboard:"),
    "segment": st.Page("pages/segment.py", title="Segment", icon=":material/biotech:"),
    "gallery": st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
}


def home() -> None:
    st.title("SegGal")
    st.markdown(
        "SegGal answers one question for a biologist: **which cell-segmentation method, trained on what data, "
        "should I use for my images and my computer?** It turns the benchmark of 18 methods on TissueNet and "
        "LIVECell (Wang, Zhao, Xu et al., 2024) into a recommendation, lets you explore the published results, "
        "and segments and scores your own image with a gallery model."
    )
    cols = st.columns(4)
    blurbs = {
        "guideline": "Answer six questions, get a method and training data with reasons.",
        "benchmarks": "The paper's figures, interactive: rankings, transferability, dilation curves.",
        "segment": "Upload an image, segment it, score it against your annotation, export.",
        "gallery": "The paper's 138 pre-trained model slots and the checkpoints SegGal has.",
    }
    for col, (key, text) in zip(cols, blurbs.items()):
        with col:
            st.page_link(PAGES[key])
            st.caption(text)


navigation = st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True), *PAGES.values()])
navigation.run()
