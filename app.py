"""ModelLens — Streamlit entry point: page config, session state, navigation. No model logic.

Run with `modellens [MODEL]`, or `streamlit run app.py [-- --model PATH]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # a source checkout runs without installing

from viewer import app_state, pages, run_page


def _cli_model() -> str | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return str(Path(known.model).resolve()) if known.model else None


st.set_page_config(page_title="ModelLens", page_icon="🔎", layout="wide")
app_state.init_session_state(_cli_model())
# Pages in the top bar, so the graph page has the whole width.
navigation = st.navigation(
    [
        st.Page(pages.graph_page, title="Graph", icon=":material/hub:", url_path="graph", default=True),
        st.Page(pages.summary_page, title="Summary", icon=":material/summarize:", url_path="summary"),
        st.Page(run_page.run_page, title="Run", icon=":material/play_arrow:", url_path="run"),
    ],
    position="top",
)
navigation.run()
