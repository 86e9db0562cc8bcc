"""Segment page."""

import streamlit as st

st.title("Segment")
st.info("Segmentation of uploaded images arrives with the backends.")
