"""Which globals a pickle may name without being an attack: ``runs_code("posix mkdir")`` is True.

A pickle calls whatever globals it names when it is loaded; ModelLens never loads one, but it tells
the user plainly when a file would run code (``os.system``, ``builtins.eval``, ``subprocess.Popen``
...) so that nobody tries ``torch.load`` on it to "see what is inside".
"""

from __future__ import annotations

# Globals whose call runs code or touches the system: a pickle naming one is an attack (or a
# mistake worth the same warning), never a model. "module name" as pickle opcodes spell them.
_CODE_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty",
        "ctypes", "multiprocessing", "webbrowser", "code", "codeop", "pickle", "_pickle", "marshal",
        "types", "commands", "popen2", "pdb", "bdb", "timeit", "asyncio", "signal", "platform",
        "requests", "urllib", "http", "ftplib", "smtplib", "telnetlib", "tempfile", "zipimport",
        "pip", "setuptools", "distutils", "cProfile", "profile", "trace",
    }
)  # fmt: skip
_CODE_BUILTINS = frozenset(
    {
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
        "locals", "vars", "input", "breakpoint", "execfile", "apply", "file", "reload", "memoryview",
    }
)  # fmt: skip
_CODE_CALLS = frozenset(
    {
        "operator attrgetter", "operator methodcaller", "_operator attrgetter", "_operator methodcaller",
        "torch load", "torch.serialization load",
        "torch.hub load", "numpy load", "numpy.testing._private.utils runstring",
        "torch._inductor.codecache compile_file", "torch.utils.cpp_extension load_inline",
        "io open", "_io open", "io FileIO", "_io FileIO",
    }
)  # fmt: skip


def runs_code(global_name: str) -> bool:
    """Whether unpickling a reference to ``global_name`` ("module name") can run arbitrary code."""
    module, _, attribute = global_name.partition(" ")
    root = module.split(".", 1)[0]
    if root in _CODE_MODULES:
        return True
    if module in ("builtins", "__builtin__", "__builtins__"):
        return attribute in _CODE_BUILTINS
    return global_name in _CODE_CALLS


def call_text(global_name: str) -> str:
    """``posix mkdir`` (as pickle opcodes spell a global) -> ``posix.mkdir``."""
    module, _, attribute = global_name.partition(" ")
    return f"{module}.{attribute}"
