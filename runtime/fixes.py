"""The fix for a model that fails while running, read from the framework's message.

The same message reaches the CLI, the Python API and the app, so fixes here name no command-line
flag and no page control: ``failure_fix("index out of range in self")`` says to check the input
values, an allocation failure says memory, anything else says shapes.
"""

from __future__ import annotations

import re

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


def failure_fix(message: str) -> str:
    """The fix for a framework error ``message``: values, memory or (by default) shapes."""
    if _MEMORY.search(message):
        return MEMORY_FIX
    if _VALUES.search(message):
        return VALUES_FIX
    return SHAPES_FIX
