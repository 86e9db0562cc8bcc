"""Guideline page: the methods the paper's Figure 6 lists for one task."""

import streamlit as st

from seggal.ranking import figure6_methods, scenario_scores
from seggal.tasks import TASKS

st.title("Guideline")
task = st.selectbox("Task", [t.id for t in TASKS], format_func=lambda t: next(x.label for x in TASKS if x.id == t))
chosen = figure6_methods(None, task)
st.dataframe(scenario_scores(None, task).loc[chosen].round(3))
