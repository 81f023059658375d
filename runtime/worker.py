"""The only place a model executes: a worker process per (model, device), and a bounded pool.

``Worker`` starts ``python -m runtime._worker_main`` with one end of a socket pair
(multiprocessing.connection), loads the model there once, and answers requests (run, bench,
profile, shapes) one at a time. Every request has a timeout; when the worker crashes (segfault,
abort, out-of-memory kill) or does not answer in time, it is killed and the caller gets a
``ModelRunError`` naming what happened, while the calling process keeps going. The worker's
stdout/stderr go to a temp file whose tail is quoted in crash messages (so model prints never
reach the CLI's JSON).

``WorkerPool`` keeps at most ``max_workers`` workers (least recently used is stopped first) and
stops workers idle for ``idle_timeout_s``. An app holds one pool (e.g. in st.cache_resource); the
CLI and the Python API use ``default_pool()``.
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any

from converters import errors as error_types
from converters.errors import InputSpecError, InternalError, ModelLensError, ModelLoadError, ModelRunError

ROOT = Path(__file__).resolve().parents[1]
LOAD_TIMEOUT_S = 300.0
RUN_TIMEOUT_S = 120.0
MEMORY_HEADROOM = 0.8  # a run may use at most this share of the memory available
_SIGNALS: dict[int, str] = {
    signal.SIGSEGV: "a segmentation fault (SIGSEGV)",
    signal.SIGABRT: "an abort (SIGABRT)",
    signal.SIGKILL: "SIGKILL (usually the system running out of memory)",
    signal.SIGBUS: "a bus error (SIGBUS)",
    signal.SIGFPE: "a floating-point exception (SIGFPE)",
    signal.SIGILL: "an illegal instruction (SIGILL)",
}


class WorkerStoppedError(ModelRunError):
    """The worker was stopped (``reason`` "timeout": no answer within ``timeout_s``) or died
    (``reason`` "crash"). Nothing is left to ask: a caller must not send the same request again
    for a second opinion (a shape pass after a run that timed out would only wait again). The
    fix is neutral; the CLI names ``--timeout`` and the app its Timeout field (``timeout_fix``)."""

    def __init__(self, message: str, fix: str, reason: str, timeout_s: float | None = None) -> None:
        super().__init__(message, fix)
        self.reason, self.timeout_s = reason, timeout_s

    def naming(self, control: str) -> WorkerStoppedError:
        """The same error whose timeout fix names ``control`` (a crash keeps its fix)."""
        if self.reason != "timeout":
            return self
        return WorkerStoppedError(self.message, timeout_fix(control), self.reason, self.timeout_s)


TIMEOUT_FIX = "raise the timeout{control}, or use smaller inputs; an endless loop in the model never finishes"


def timeout_fix(control: str) -> str:
    """The fix for a timed-out request, naming where the timeout is set (``control``, e.g.
    "--timeout" or "Timeout (s) in the run settings")."""
    return TIMEOUT_FIX.format(control=f" ({control})" if control else "")


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable from /proc/meminfo, else physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def format_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def check_memory(
    needed: int,
    what: str,
    available: int | None = None,
    error: type[ModelLensError] = InputSpecError,
    fix: str = "use smaller dims (batch, sequence length, image size)",
) -> None:
    """Refuse (``error`` with the numbers) when ``needed`` bytes exceed the headroom."""
    available = available_memory() if available is None else available
    allowed = int(available * MEMORY_HEADROOM)
    if needed > allowed:
        raise error(
            f"{what} need {format_bytes(needed)}, but only {format_bytes(available)} of memory is available "
            f"(a run may use {int(MEMORY_HEADROOM * 100)}%: {format_bytes(allowed)})",
            fix,
        )


class Worker:
    """One model loaded on one device in its own process.

    The process starts and begins loading at construction; ``info`` waits for the load (so the
    caller's own work overlaps it) and describes the model: format, inputs (ModelInput),
    output_names, provider, providers, load_ms, threads. A file that is not a runnable model fails
    in the caller (ModelLoadError) before any process starts.
    """

    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        signature: str | None = None,
        threads: int = 0,
        load_timeout_s: float = LOAD_TIMEOUT_S,
    ) -> None:
        from runtime.runners import detect_run_format, runnable_path

        self.path, self.device = Path(path), device
        self.run_path = runnable_path(self.path)
        self.format = detect_run_format(self.run_path)
        self.last_used = time.monotonic()
        self.lock = threading.Lock()
        # append mode (shared with the worker) so the log can be cut short between requests
        self._log = tempfile.TemporaryFile("a+b")  # noqa: SIM115 - lives as long as the worker
        parent, child = Pipe(duplex=True)
        self._conn: Connection = parent
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime._worker_main", str(child.fileno())],
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=env,
            cwd=str(ROOT),
        )
        child.close()
        self._load_timeout_s = load_timeout_s
        self._info: dict[str, Any] | None = None
        self._conn.send(("load", str(self.run_path), self.format, device, signature, threads))

    @property
    def info(self) -> dict[str, Any]:
        """The model's description; waits for the load (ModelLoadError, ModelRunError)."""
        if self._info is None:
            with self.lock:
                if self._info is None:
                    try:
                        self._info = self._receive(self._load_timeout_s, "loading")
                    except BaseException:
                        self.close()
                        raise
        return self._info

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def request(
        self, message: tuple[Any, ...], timeout_s: float = RUN_TIMEOUT_S, doing: str = "running"
    ) -> Any:
        """Send one request and wait for its answer; the worker is stopped on a timeout or crash."""
        _ = self.info
        with self.lock:
            if not self.alive:
                raise ModelRunError(
                    f"the worker for {self.path.name} has stopped", "run again to start a new one"
                )
            self._trim_log()
            try:
                self._conn.send(message)
            except (ConnectionError, OSError) as err:
                raise self._crashed(doing) from err
            return self._receive(timeout_s, doing)

    def _receive(self, timeout_s: float, doing: str) -> Any:
        self.last_used = time.monotonic()
        try:
            if not self._conn.poll(timeout_s):
                self.close()
                raise WorkerStoppedError(
                    f"{self.path.name} did not finish {doing} within {timeout_s:g} s; its worker was stopped",
                    timeout_fix(""),
                    "timeout",
                    timeout_s,
                )
            status, *payload = self._conn.recv()
        except (EOFError, ConnectionError, OSError) as err:
            raise self._crashed(doing) from err
        finally:
            self.last_used = time.monotonic()
        if status == "ok":
            return payload[0]
        if status == "error":
            kind, text, fix = payload[:3]
            failure: Any = getattr(error_types, kind, ModelRunError)(text, fix)
            failure.details = payload[3] if len(payload) > 3 else None
            raise failure
        raise InternalError(f"worker bug while {doing} {self.path.name}: {payload[0]}")

    def _crashed(self, doing: str) -> WorkerStoppedError:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        tail = self.log_tail()
        self.close()
        how = _SIGNALS.get(-code, f"signal {-code}") if code < 0 else f"exit code {code}"
        return WorkerStoppedError(
            f"the worker {doing} {self.path.name} died with {how}"
            + (f"; its last output: {tail}" if tail else ""),
            "the model or its runtime crashed (check the input shapes and values, and the device); "
            "ModelLens keeps running",
            "crash",
        )

    def _trim_log(self, keep_bytes: int = 1 << 20) -> None:
        """A model that prints on every run must not fill the disk: past 1 MB the log restarts."""
        try:
            if os.fstat(self._log.fileno()).st_size > keep_bytes:
                self._log.truncate(0)
        except (OSError, ValueError):
            return

    def log_tail(self, limit: int = 300) -> str:
        try:
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - 4096))
            text = self._log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-3:])[-limit:]

    def close(self, wait: bool = True) -> None:
        """Stop the process (politely, then by force) and free the pipe. ``wait=False`` kills it
        at once (at interpreter exit: the worker holds nothing worth a clean shutdown)."""
        if self.process.poll() is None and not wait:
            self.process.kill()
            self.process.wait()
        elif self.process.poll() is None:
            try:
                self._conn.send(("exit",))
                self.process.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._conn.close()
        self._log.close()


class WorkerPool:
    """At most ``max_workers`` live workers keyed by (model file, device, signature, threads);
    a second request for the same key reuses the loaded model. Thread-safe."""

    def __init__(self, max_workers: int = 2, idle_timeout_s: float = 600.0) -> None:
        self.max_workers, self.idle_timeout_s = max_workers, idle_timeout_s
        self._workers: OrderedDict[tuple[Any, ...], Worker] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    def get(
        self, path: str | Path, device: str = "cpu", signature: str | None = None, threads: int = 0
    ) -> tuple[Worker, bool]:
        """(worker, reused): a live worker for this model and device, started when needed (it
        loads in the background; ``worker.info`` waits). The least recently used idle worker is
        stopped first when the pool is full."""
        key = _model_key(Path(path), device, signature, threads)
        with self._lock:
            self._reap_idle()
            worker = self._workers.pop(key, None)
            if worker is not None and worker.alive:
                self._workers[key] = worker
                return worker, True
            while len(self._workers) >= self.max_workers:
                self._evict()
            check_memory(
                _stored_bytes(Path(path)),
                f"the weights of {Path(path).name}",
                error=ModelLoadError,
                fix="close other models or programs, or run it on a machine with more memory",
            )
            worker = Worker(path, device, signature, threads)  # spawning is quick: load is async
            self._workers[key] = worker
            self._start_reaper()
        return worker, False

    def holds(
        self, path: str | Path, device: str = "cpu", signature: str | None = None, threads: int = 0
    ) -> bool:
        """Whether a live worker already has this model loaded (or loading) for this device."""
        with self._lock:
            worker = self._workers.get(_model_key(Path(path), device, signature, threads))
            return worker is not None and worker.alive

    def _evict(self) -> None:
        """Stop the least recently used worker, preferring one that is not answering a request."""
        idle = [key for key, w in self._workers.items() if not w.lock.locked()]
        key = idle[0] if idle else next(iter(self._workers))
        self._workers.pop(key).close()

    def drop(self, worker: Worker) -> None:
        with self._lock:
            for key, value in list(self._workers.items()):
                if value is worker:
                    del self._workers[key]
        worker.close()

    def __len__(self) -> int:
        return sum(1 for w in self._workers.values() if w.alive)

    def _reap_idle(self) -> None:
        now = time.monotonic()
        for key, worker in list(self._workers.items()):
            idle = now - worker.last_used > self.idle_timeout_s and not worker.lock.locked()
            if idle or not worker.alive:
                del self._workers[key]
                worker.close()

    def _start_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap_loop, name="modellens-pool-reaper", daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        interval = max(0.5, min(30.0, self.idle_timeout_s / 4))
        while not self._stop.wait(interval):
            with self._lock:
                self._reap_idle()
                if not self._workers:
                    return

    def close(self, wait: bool = True) -> None:
        """Stop every worker (``wait=False``: kill them at once, as at interpreter exit)."""
        self._stop.set()
        with self._lock:
            while self._workers:
                _, worker = self._workers.popitem()
                worker.close(wait)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stored_bytes(path: Path) -> int:
    """Bytes on disk of a model file or folder (a lower bound for its weights in memory)."""
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


def _model_key(path: Path, device: str, signature: str | None, threads: int) -> tuple[Any, ...]:
    resolved = path.resolve()
    try:
        stat = resolved.stat()
        stamp: tuple[int, int] = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = (0, 0)
    return (str(resolved), stamp, device, signature, threads)


@functools.cache
def default_pool() -> WorkerPool:
    """The pool the CLI and ``modellens.run`` share within one process (closed at exit)."""
    pool = WorkerPool()
    atexit.register(pool.close, False)
    return pool


def error_message(err: ModelLensError) -> tuple[str, str, str, str]:
    """How the worker sends a user-facing error back (class name, message, fix)."""
    return ("error", type(err).__name__, err.message, err.fix)
