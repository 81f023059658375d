"""A minimal Streamlit page around the graph canvas, for the component's half of the contract
(viewer/component/CONTRACT.md): select triggers applied before the options are built, the host's
selection winning, and ``height="fill"``. Run by tests/browser/test_canvas_component.py."""

from __future__ import annotations

import json

import streamlit as st

from tests.payloads import make_payload
from viewer.component import graph_canvas

PAYLOAD = make_payload(
    [
        ("input", "Input", ""),
        ("/stem/Conv", "Conv", ""),
        ("/block/conv/Conv", "Conv", "block"),
        ("/block/relu/Relu", "Relu", "block"),
        ("/head/Gemm", "Gemm", ""),
    ],
    [(0, 1), (1, 2), (2, 3), (3, 4)],
    [("block", "")],
)
KEY = "canvas"

st.session_state.setdefault("selected", None)
event = (st.session_state.get(KEY) or {}).get("select")
if event:  # the trigger of this rerun, applied before the options are built
    st.session_state.selected = None if event.get("kind") == "none" else event
if st.button("Select the head"):
    st.session_state.selected = {"kind": "node", "id": "/head/Gemm"}
st.text(f"selected={json.dumps(st.session_state.selected)}")
graph_canvas(PAYLOAD, {"selected": st.session_state.selected, "expand": "all"}, key=KEY, height="fill")
