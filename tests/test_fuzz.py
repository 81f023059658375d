"""Seeded mutation fuzz of the bundled sample models: every mutated file either opens or fails with a
one-line ``ModelLensError``; nothing takes more than ``CASE_LIMIT_S``.

The converter is called in-process (``modellens.load`` → summary JSON → canvas payloads of every
graph), so a few hundred cases fit in the default run; with ``CI=true`` the slow test runs more.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import modellens
from converters.errors import ModelLensError
from viewer.canvas_payload import build_payload

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "sample_models").glob("*.onnx"))
TORCHSCRIPT_SAMPLE = ROOT / "sample_models" / "control_flow_scripted.torchscript"
DEFAULT_CASES = 300
TORCHSCRIPT_CASES = 60
CI_CASES = 3000
CASE_LIMIT_S = 10.0
_TEXT_RUN = re.compile(rb"[A-Za-z_./:]{4,}")

Mutation = Callable[[bytearray, random.Random], bytearray]


def _flip_bytes(data: bytearray, rng: random.Random) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return data


def _special_byte(data: bytearray, rng: random.Random) -> bytearray:
    data[rng.randrange(len(data))] = rng.choice((0x00, 0x7F, 0x80, 0xFE, 0xFF))
    return data


def _truncate(data: bytearray, rng: random.Random) -> bytearray:
    return data[: rng.randrange(1, len(data))]


def _insert(data: bytearray, rng: random.Random) -> bytearray:
    at = rng.randrange(len(data))
    return data[:at] + bytearray(rng.randbytes(rng.randint(1, 16))) + data[at:]


def _delete(data: bytearray, rng: random.Random) -> bytearray:
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.randint(1, 16) :]


def _duplicate(data: bytearray, rng: random.Random) -> bytearray:
    at = rng.randrange(len(data))
    chunk = data[at : at + rng.randint(1, 64)]
    to = rng.randrange(len(data))
    return data[:to] + chunk + data[to:]


def _invalid_utf8_text(data: bytearray, rng: random.Random) -> bytearray:
    """Overwrite the start of a name-like run (node/tensor names, producer, doc) with bytes that are
    not UTF-8; lengths stay, so the file still parses."""
    runs = list(_TEXT_RUN.finditer(data))
    if not runs:
        return _flip_bytes(data, rng)
    run = rng.choice(runs)
    data[run.start() : run.start() + 2] = rng.choice((b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"\x80\x80"))
    return data


def _flip_zip_directory(data: bytearray, rng: random.Random) -> bytearray:
    """Flip bytes inside the zip's central directory (entry names, sizes, offsets, flags)."""
    start = data.find(b"PK\x01\x02")
    if start < 0:
        return _flip_bytes(data, rng)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(start, len(data))] = rng.randrange(256)
    return data


def _non_utf8_entry_name(data: bytearray, rng: random.Random) -> bytearray:
    """One central-directory entry name made invalid UTF-8 while the entry's UTF-8 flag is set."""
    records = [m.start() for m in re.finditer(rb"PK\x01\x02", bytes(data))]
    if not records:
        return _flip_bytes(data, rng)
    at = rng.choice(records)
    name_length = int.from_bytes(data[at + 28 : at + 30], "little")
    if name_length < 2 or at + 46 + name_length > len(data):
        return _flip_bytes(data, rng)
    data[at + 9] |= 0x08  # general purpose flag bit 11: the name is UTF-8
    data[at + 46 + rng.randrange(name_length - 1)] = rng.choice((0xE9, 0xFF, 0xC3, 0x80))
    return data


ZIP_FLIPS: tuple[Mutation, ...] = (
    _flip_bytes,
    _special_byte,
    _flip_zip_directory,
    _flip_zip_directory,
    _non_utf8_entry_name,
)

MUTATIONS: tuple[Mutation, ...] = (
    _flip_bytes,
    _special_byte,
    _truncate,
    _insert,
    _delete,
    _duplicate,
    _invalid_utf8_text,
    _invalid_utf8_text,
)


@dataclass(frozen=True)
class Outcome:
    case: int
    sample: str
    opened: bool
    problem: str  # "" when the outcome is allowed
    seconds: float


def _run_case(
    case: int, tmp: Path, originals: dict[str, bytes], mutations: tuple[Mutation, ...] = MUTATIONS
) -> Outcome:
    rng = random.Random(case)
    sample = rng.choice(sorted(originals))
    data = bytearray(originals[sample])
    for _ in range(rng.randint(1, 3)):
        if len(data) < 2:
            break
        data = rng.choice(mutations)(data, rng)
    path = tmp / f"case{case}{Path(sample).suffix}"
    path.write_bytes(bytes(data))
    started = time.perf_counter()
    opened, problem = False, ""
    try:
        graph = modellens.load(path)
        json.dumps(modellens.summarize(graph))
        for sub in (graph, *graph.graph["subgraphs"].values()):
            json.dumps(build_payload(sub))
        opened = True
    except ModelLensError as err:
        if "\n" in str(err) or not str(err).strip():
            problem = f"ModelLensError is not one line: {str(err)!r}"
    except Exception as err:  # noqa: BLE001 - the point of the fuzz: any other exception is a bug
        problem = f"{type(err).__name__}: {err}"[:300]
    finally:
        path.unlink()
    seconds = time.perf_counter() - started
    if not problem and seconds > CASE_LIMIT_S:
        problem = f"took {seconds:.1f} s"
    return Outcome(case, sample, opened, problem, seconds)


def _fuzz(count: int, tmp: Path) -> list[Outcome]:
    originals = {path.name: path.read_bytes() for path in SAMPLES}
    return [_run_case(case, tmp, originals) for case in range(count)]


def _report(outcomes: list[Outcome]) -> str:
    return "\n".join(f"case {o.case} ({o.sample}): {o.problem}" for o in outcomes if o.problem)


def test_samples_exist() -> None:
    assert len(SAMPLES) >= 2


def test_fuzz_default(tmp_path: Path) -> None:
    outcomes = _fuzz(DEFAULT_CASES, tmp_path)
    assert not _report(outcomes), _report(outcomes)
    # the mutations must reach the converter, not only the format check
    assert sum(o.opened for o in outcomes) >= DEFAULT_CASES // 10


def test_fuzz_torchscript_byte_flips(tmp_path: Path) -> None:
    """Byte flips over a TorchScript archive (its entries, names and central directory): each file
    opens or fails with one line; a name that is no longer UTF-8 is a corrupt archive, not a crash."""
    pytest.importorskip("torch")
    originals = {TORCHSCRIPT_SAMPLE.name: TORCHSCRIPT_SAMPLE.read_bytes()}
    outcomes = [_run_case(case, tmp_path, originals, ZIP_FLIPS) for case in range(TORCHSCRIPT_CASES)]
    assert not _report(outcomes), _report(outcomes)
    assert any(o.opened for o in outcomes)  # flips that miss the structure still open


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CI") != "true", reason="the long fuzz runs with CI=true")
def test_fuzz_ci(tmp_path: Path) -> None:
    outcomes = _fuzz(CI_CASES, tmp_path)
    assert not _report(outcomes), _report(outcomes)
