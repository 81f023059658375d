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


def save_screenshot(page: Any, name: str) -> None:
    """A browser test's screenshot ``name``.png into $MODELLENS_SCREENSHOTS, when that is set."""
    import os
    from pathlib import Path

    folder = os.environ.get("MODELLENS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)
