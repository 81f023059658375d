"""The view the app's "Interactive HTML (this view)" export opens with: the canvas's expansion and
toggles as it last reported them, and the one selection, as of the latest rerun.

The header (and its Export menu) is drawn before the canvas in each rerun, and the HTML is built
only when the download is clicked, on another thread. So the page does not hand the export a copy
of the view: after each canvas draw it records the view in one dict kept in the session
(``remember``), updated in place, and the download reads that dict when it runs (``options_for``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

VIEW_KEYS = ("direction", "labels", "showWeights", "showShapes")


def export_options(
    expanded: Sequence[str] | None, view: Mapping[str, Any] | None, host: Mapping[str, Any]
) -> dict[str, Any]:
    """Engine view options (``CONTRACT.md``) that reproduce the canvas: ``expanded`` as the canvas
    reported it (else the host's ``focus``, which the automatic view opens around), its toggles
    (``view``), and the host options' ``selected`` and ``theme``."""
    options = {k: v for k, v in (view or {}).items() if k in VIEW_KEYS and v is not None}
    if expanded is not None:
        options["expanded"] = list(expanded)
    elif host.get("focus") is not None:
        options["focus"] = host["focus"]
    for key in ("selected", "theme"):
        if host.get(key) is not None:
            options[key] = host[key]
    return options


def remember(
    latest: MutableMapping[str, Any],
    canvas_key: str,
    expanded: Sequence[str] | None,
    view: Mapping[str, Any] | None,
    host: Mapping[str, Any],
) -> None:
    """Record the view just drawn by canvas ``canvas_key`` in ``latest`` (in place)."""
    options = export_options(expanded, view, host)
    latest.clear()
    latest.update(key=canvas_key, options=options)


def options_for(latest: Mapping[str, Any], canvas_key: str) -> dict[str, Any]:
    """The recorded view of canvas ``canvas_key``; ``{}`` (the automatic first view) when the last
    canvas drawn was another one."""
    return dict(latest.get("options") or {}) if latest.get("key") == canvas_key else {}
