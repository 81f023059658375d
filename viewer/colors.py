"""Operator category colours (one table for the canvas, exports and legend).

Saturated fills with white text read well on both light and dark backgrounds, as in Netron.
"""

from __future__ import annotations

CATEGORY_STYLES: dict[str, dict[str, str]] = {
    "layer": {"label": "Layer", "fill": "#335c99", "text": "#ffffff"},
    "activation": {"label": "Activation", "fill": "#8a2d2d", "text": "#ffffff"},
    "pool": {"label": "Pool", "fill": "#2f6b3a", "text": "#ffffff"},
    "normalization": {"label": "Normalization", "fill": "#2d6f78", "text": "#ffffff"},
    "shape": {"label": "Shape", "fill": "#6b5632", "text": "#ffffff"},
    "tensor": {"label": "Tensor", "fill": "#5b4a7a", "text": "#ffffff"},
    "control": {"label": "Control flow", "fill": "#a3551b", "text": "#ffffff"},
    "constant": {"label": "Constant", "fill": "#6e7177", "text": "#ffffff"},
    "custom": {"label": "Custom", "fill": "#9c2f6f", "text": "#ffffff"},
    "other": {"label": "Math / other", "fill": "#5d6677", "text": "#ffffff"},
}
