"""Reading what the inspector shows in an AppTest run (shared by the format test modules)."""

from __future__ import annotations

from typing import Any


def weight_stats(app: Any) -> list[dict[str, float]]:
    """Each weight's statistics line (``**min** 0.1 · **max** … · **std** …``), in page order, as
    {name: value}."""
    lines = [str(m.value) for m in app.markdown if str(m.value).startswith("**min**")]
    result = []
    for line in lines:
        pairs = (part.split("**")[1:] for part in line.split(" · "))
        result.append({name: float(value.strip().replace("\u00a0", "")) for name, value in pairs})
    return result


def attribute_values(app: Any) -> list[str]:
    """The values of the attribute rows the inspector lists (``**name** = value``), unescaped."""
    texts = (str(m.value).replace("\\", "") for m in app.markdown)
    return [text.split("** = ", 1)[1] for text in texts if text.startswith("**") and "** = " in text]
