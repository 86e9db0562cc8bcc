"""Gallery page: the paper's model slots with their published scores."""

import streamlit as st

from seggal.results import load_scores

st.title("Gallery")
st.dataframe(load_scores(), hide_index=True)
