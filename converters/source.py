"""ModelSource: where a model's bytes are — a path on disk, or uploaded files saved to a temp dir.

Uploads (one file, several files such as ``model.onnx`` + ``weights.bin``, or a ``.zip``) are
written into a private temporary directory; zips are unpacked safely (no entries escaping the
folder, no links, bounded size and compression ratio).
"""

from __future__ import annotations

import atexit
import hashlib
import mmap
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from converters.errors import ModelLoadError, UnsupportedFormatError

HEAD_SIZE = 64
MAX_UNZIPPED_BYTES = 8 * 1024**3
MAX_ZIP_ENTRIES = 20_000
MAX_COMPRESSION_RATIO = 200
RATIO_CHECK_MIN_BYTES = 64 * 1024**2
_HASH_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modellens-sha256")


@dataclass
class ModelSource:
    """A model location. ``path`` is a file or a directory (SavedModel)."""

    path: Path
    display_name: str
    temp_dir: Path | None = None
    _sha256: str | None = field(default=None, repr=False)
    _head: bytes | None = field(default=None, repr=False)
    _pending_hash: Future[str] | None = field(default=None, repr=False)
    _zip_names: list[str] | None = field(default=None, repr=False)

    @classmethod
    def from_path(cls, path: str | Path) -> ModelSource:
        resolved = Path(path).expanduser()
        if not resolved.exists():
            raise ModelLoadError(f"No such file: {resolved}", "check the path and try again")
        if resolved.is_file() and resolved.stat().st_size == 0:
            raise ModelLoadError(f"{resolved.name} is empty (0 bytes)", "re-export or re-copy the model file")
        return cls(path=resolved.resolve(), display_name=resolved.name)

    @classmethod
    def from_uploads(cls, files: Iterable[tuple[str, bytes]]) -> ModelSource:
        """Save uploaded (name, bytes) pairs side by side; a lone .zip is unpacked."""
        uploads = [(Path(name).name, data) for name, data in files]
        if not uploads:
            raise ModelLoadError("No file was uploaded", "drop a model file onto the uploader")
        temp_dir = Path(tempfile.mkdtemp(prefix="modellens-"))
        atexit.register(shutil.rmtree, temp_dir, True)
        for name, data in uploads:
            if not data:
                raise ModelLoadError(f"{name} is empty (0 bytes)", "re-export or re-copy the model file")
            (temp_dir / name).write_bytes(data)
        main = temp_dir / pick_main_file([name for name, _ in uploads])
        source = cls(path=main, display_name=main.name, temp_dir=temp_dir)
        return source

    @classmethod
    def from_folder_upload(cls, files: Iterable[tuple[str, bytes]]) -> ModelSource:
        """Save a browser folder upload ((relative path, bytes) pairs, e.g. ``model/variables/x``)
        under a private temp dir, keeping the folder structure; the source is the uploaded folder.
        Paths escaping the folder, too many files or too many bytes are refused."""
        uploads = list(files)
        if not uploads:
            raise ModelLoadError("No folder was uploaded", "pick the model's folder in the folder uploader")
        fix = "upload the model folder itself (or a .zip of it)"
        if len(uploads) > MAX_ZIP_ENTRIES:
            raise UnsupportedFormatError(f"The folder has {len(uploads)} files, too many for a model", fix)
        if sum(len(data) for _, data in uploads) > MAX_UNZIPPED_BYTES:
            raise UnsupportedFormatError(f"The folder holds more than {MAX_UNZIPPED_BYTES >> 30} GiB", fix)
        relative = [_safe_relative_path(name, fix) for name, _ in uploads]
        temp_dir = Path(tempfile.mkdtemp(prefix="modellens-"))
        atexit.register(shutil.rmtree, temp_dir, True)
        for path, (_, data) in zip(relative, uploads, strict=True):
            destination = temp_dir / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
        tops = {path.parts[0] for path in relative if len(path.parts) > 1}
        root = (
            temp_dir / tops.pop() if len(tops) == 1 and all(len(p.parts) > 1 for p in relative) else temp_dir
        )
        return cls(path=root, display_name=root.name if root != temp_dir else "folder", temp_dir=temp_dir)

    @property
    def is_dir(self) -> bool:
        return self.path.is_dir()

    @property
    def base_dir(self) -> Path:
        return self.path if self.is_dir else self.path.parent

    @property
    def size(self) -> int:
        if self.is_dir:
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return self.path.stat().st_size

    @property
    def head(self) -> bytes:
        if self._head is None:
            self._head = b"" if self.is_dir else _read_head(self.path)
        return self._head

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = self._pending_hash.result() if self._pending_hash else hash_path(self.path)
        return self._sha256

    def start_hashing(self) -> None:
        """Hash the file on a worker thread (hashlib releases the GIL) while it is being parsed."""
        if self._sha256 is None and self._pending_hash is None:
            self._pending_hash = _HASH_POOL.submit(hash_path, self.path)

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()

    def is_zip(self) -> bool:
        return not self.is_dir and self.head.startswith(b"PK\x03\x04")

    def zip_names(self) -> list[str]:
        """Entry names of a zip source ([] when not a zip or its directory is unreadable, as in a
        truncated file); ModelLoadError when the directory reads but is corrupt (see
        ``zip_entry_names``)."""
        if self._zip_names is None:
            self._zip_names = zip_entry_names(self.path, self.display_name) if self.is_zip() else []
        return self._zip_names

    def unpacked(self) -> ModelSource:
        """A new source for this zip's contents, extracted safely into a temp dir."""
        target = Path(tempfile.mkdtemp(prefix="modellens-zip-"))
        atexit.register(shutil.rmtree, target, True)  # the graph reads weights from it until then
        try:
            safe_extract(self.path, target)
        except Exception:
            shutil.rmtree(target, ignore_errors=True)
            raise
        entries = [p for p in target.iterdir() if not p.name.startswith(("__MACOSX", "."))]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else target
        return ModelSource(path=root, display_name=self.display_name, temp_dir=target)

    def cleanup(self) -> None:
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def zip_entry_names(path: Path, display_name: str) -> list[str]:
    """The entry names of a zip; [] when its directory cannot be found (a truncated file: the
    format modules then say what it is). A directory that is found but does not decode (an entry
    name that is not valid UTF-8 under the UTF-8 flag, a bad header field) raises ModelLoadError:
    the file is a corrupt archive, whatever format it holds."""
    try:
        with open_zip(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return []
    except ZIP_CORRUPTION_ERRORS as err:
        raise corrupt_zip_error(display_name, err) from err


# what zipfile raises, beyond BadZipFile/OSError, for a damaged central directory or entry
ZIP_CORRUPTION_ERRORS: tuple[type[Exception], ...] = (
    ValueError,  # UnicodeDecodeError: a name that is not UTF-8; a bad date or header field
    EOFError,
    NotImplementedError,  # an unknown compression method in a flipped header
    struct.error,
    zlib.error,
)
ZIP_READ_ERRORS: tuple[type[Exception], ...] = (zipfile.BadZipFile, OSError, *ZIP_CORRUPTION_ERRORS)


def corrupt_zip_error(display_name: str, err: BaseException) -> ModelLoadError:
    """The one-line error for a zip whose directory or entries are damaged."""
    detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return ModelLoadError(
        f"{display_name} is a truncated or corrupt zip archive ({type(err).__name__}: {detail})",
        "re-save the model, or copy the file again completely (compare its size or checksum)",
    )


def pick_main_file(names: list[str]) -> str:
    """The model file among uploaded names: an .onnx / .pt / .pt2 / .zip first, else the first."""
    preferred = (".onnx", ".ort", ".pt2", ".pt", ".pth", ".torchscript", ".zip", ".pb")
    for suffix in preferred:
        for name in names:
            if name.lower().endswith(suffix):
                return name
    return names[0]


def _read_head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(HEAD_SIZE)


def hash_path(path: Path) -> str:
    """sha256 of a file, or of a directory's files (names and contents, sorted)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        _hash_file(digest, file)
    return digest.hexdigest()


def open_zip(path: Path) -> zipfile.ZipFile:
    """The zip at ``path``, refusing one whose central directory is not its own.

    A file cut short loses its central directory; zipfile then finds the directory of a zip stored
    inside it (a .pt2 keeps its sample inputs as an uncompressed torch.save zip) and lists that
    one's entries. The first entry of a whole zip that starts with a local header is at offset 0.
    Raises zipfile.BadZipFile (cut short) or OSError.
    """
    archive = zipfile.ZipFile(path)
    infos = archive.infolist()
    if infos and min(info.header_offset for info in infos) != 0:
        archive.close()
        raise zipfile.BadZipFile("the archive is cut short: its central directory is missing")
    return archive


def _hash_file(digest: hashlib._Hash, file: Path) -> None:
    """One ``update`` over the memory-mapped file: hashlib releases the GIL for the whole call, so
    hashing on a worker thread overlaps a parser that holds the GIL (torch.jit.load does)."""
    with file.open("rb") as handle:
        try:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                digest.update(mapped)
                return
        except (ValueError, OSError):  # empty or unmappable: read it in chunks
            handle.seek(0)
        while chunk := handle.read(1 << 22):
            digest.update(chunk)


def safe_extract(zip_path: Path, target: Path) -> None:
    """Extract a zip refusing path traversal, links, too many entries and zip bombs."""
    fix = "unzip it yourself, check its contents, and open the model file or folder directly"
    try:
        archive = open_zip(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsupportedFormatError(f"{zip_path.name} is not a readable zip ({err})", fix) from err
    except ZIP_CORRUPTION_ERRORS as err:
        raise corrupt_zip_error(zip_path.name, err) from err
    try:
        _extract_all(archive, zip_path, target, fix)
    except ZIP_READ_ERRORS as err:
        raise corrupt_zip_error(zip_path.name, err) from err


def _extract_all(archive: zipfile.ZipFile, zip_path: Path, target: Path, fix: str) -> None:
    with archive:
        infos = archive.infolist()
        _check_zip_entries(zip_path.name, infos, fix)
        written = 0
        for info in infos:
            destination = target / PurePosixPath(info.filename)
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, destination.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > MAX_UNZIPPED_BYTES:
                        raise UnsupportedFormatError(
                            f"{zip_path.name} unpacks to more than {MAX_UNZIPPED_BYTES >> 30} GiB "
                            "(a zip bomb?)",
                            fix,
                        )
                    dst.write(chunk)


def _safe_relative_path(name: str, fix: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside its folder; UnsupportedFormatError otherwise."""
    path = PurePosixPath(name.replace("\\", "/"))
    parts = path.parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise UnsupportedFormatError(f"The upload has a path escaping its folder: {name!r}", fix)
    return path


def _check_zip_entries(zip_name: str, infos: list[zipfile.ZipInfo], fix: str) -> None:
    if len(infos) > MAX_ZIP_ENTRIES:
        raise UnsupportedFormatError(f"{zip_name} has {len(infos)} entries, too many for a model", fix)
    declared = sum(info.file_size for info in infos)
    compressed = sum(info.compress_size for info in infos) or 1
    if declared > MAX_UNZIPPED_BYTES or (
        declared > RATIO_CHECK_MIN_BYTES and declared / compressed > MAX_COMPRESSION_RATIO
    ):
        raise UnsupportedFormatError(
            f"{zip_name} declares {declared / 1024**3:.1f} GiB unpacked from "
            f"{compressed / 1024**2:.1f} MiB (a zip bomb?)",
            fix,
        )
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise UnsupportedFormatError(f"{zip_name} has an entry escaping its folder: {name!r}", fix)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsupportedFormatError(f"{zip_name} contains a link ({name!r}), which is not allowed", fix)
