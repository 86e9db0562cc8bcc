"""Benchmarks page: the paper's Figure 2a ranking from the published scores."""

import streamlit as st

from seggal.ranking import rank_table
from seggal.tasks import TASKS

st.title("Benchmarks")
st.caption("Source: published scores, Wang et al. 2024 (bioRxiv); ranking as the paper's Methods define it.")
table = rank_table()
labels = {t.id: t.label for t in TASKS}
st.dataframe(table.drop(columns="method_id").rename(columns=labels).round(3), hide_index=True)
