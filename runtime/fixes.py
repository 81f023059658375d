"""Fixes worded for where the user is: the CLI, the Python API or the app.

The engine is shared, so a failing model's fix names no command-line flag and no page control:
``failure_fix("index out of range in self")`` says to check the input values, an allocation failure
says memory, anything else says shapes. A fix that must name a control (the spec file to pass, the
iteration count) is given per surface with ``with_fixes``; the engine raises the Python API's
wording and each surface calls ``for_surface(err, "cli" | "api" | "app")`` before showing it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal, TypeVar

Surface = Literal["cli", "api", "app"]
E = TypeVar("E", bound=Exception)

_VALUES = re.compile(
    r"index out of range|out of bounds|out of data bounds|indices element|index \S+ is out of|"
    r"IndexError|invalid index|must be within the inclusive range",
    re.IGNORECASE,
)
_MEMORY = re.compile(
    r"not enough memory|out of memory|can't allocate|cannot allocate|failed to allocate|bad_alloc|"
    r"DefaultCPUAllocator|MemoryError",
    re.IGNORECASE,
)
VALUES_FIX = (
    "check the input values: integer inputs that index a table (token ids, positions, class ids) "
    "must stay below its size"
)
MEMORY_FIX = (
    "the model needs more memory than is available: use smaller inputs, or a machine with more memory"
)
SHAPES_FIX = "check the input shapes against what the model expects at the failing node"
CONSTANT_MEMORY_FIX = (
    "the failing node has no tensor inputs, so its allocation does not shrink with smaller inputs: "
    "run the model on a machine with more memory"
)


def failure_fix(message: str) -> str:
    """The fix for a framework error ``message``: values, memory or (by default) shapes."""
    if _MEMORY.search(message):
        return MEMORY_FIX
    if _VALUES.search(message):
        return VALUES_FIX
    return SHAPES_FIX


def node_failure_fix(message: str, input_shapes: Sequence[object] | None) -> str:
    """``failure_fix`` for a failure at a known node: an allocation by a node with no inputs does
    not depend on the inputs' sizes, so "use smaller inputs" would not help."""
    fix = failure_fix(message)
    if fix == MEMORY_FIX and not input_shapes:
        return CONSTANT_MEMORY_FIX
    return fix


def with_fixes(err: E, fixes: Mapping[Surface, str]) -> E:
    """``err`` carrying a fix per surface (its own ``fix`` should be the API's)."""
    err.surface_fixes = dict(fixes)  # type: ignore[attr-defined]
    return err


def for_surface(err: E, surface: Surface) -> E:
    """``err`` with the fix worded for ``surface`` (a copy), or ``err`` when it has one fix."""
    fix = getattr(err, "surface_fixes", {}).get(surface)
    if fix is None or fix == getattr(err, "fix", None):
        return err
    reworded = type(err).__new__(type(err))  # copy.copy would call __init__ with args alone
    reworded.__dict__.update(err.__dict__)
    reworded.fix = " ".join(fix.split())  # type: ignore[attr-defined]
    one_line = getattr(reworded, "one_line", None)
    reworded.args = (one_line() if callable(one_line) else str(err),)
    return reworded


def spec_needed_fixes(spec_name: str) -> dict[Surface, str]:
    """Where the proposed spec for a model that declares no input shapes goes, per surface: the CLI
    printed it, the API carries it as ``err.template``, the app shows it as rows."""
    return {
        "cli": f"save the proposed spec printed above as {spec_name} beside the model and check it "
        f"(it is used from then on), or pass --input-spec FILE",
        "api": f"write err.template (the proposed spec) to {spec_name} beside the model and check it "
        '(it is used from then on), or pass spec="FILE"',
        "app": "check the proposed shape of each input row (or load a spec file), then run",
    }


def iterations_fixes() -> dict[Surface, str]:
    """A benchmark with no iterations and no time budget, per surface."""
    return {
        "cli": "e.g. --iterations 100 --warmup 10",
        "api": "e.g. iterations=100, warmup=10",
        "app": "set Iterations to 1 or more, or pick a time budget",
    }
