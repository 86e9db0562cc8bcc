"""Download a catalogue model, convert it, and store it in the Hugging Face cache (so it serves offline).

A pull (:func:`pull`) prefers SegGal's Hub mirror (``huggingface_hub``; the converted checkpoint, pinned to the
commit the mirror index records for its repository, :func:`seggal.hub.mirror_revision`) and falls back to the
original source: Google Drive through ``gdown`` (files and folders), the generalists' own URLs, or, for Cellpose's
generalists, Cellpose's own downloader (:mod:`seggal.zoo.cellpose_fetch`, ``SEGGAL_CELLPOSE_URL``). Original
files go to a staging folder outside the Hugging Face cache
(:func:`downloads_dir`), where an interrupted transfer is resumed (HTTP ``Range``, gdown's ``resume``); the
file's SHA-256 is computed while it arrives, checked against the catalogue when it is known, and recorded in the
converted checkpoint (``seggal.zoo.convert.convert(..., sha256=...)``). A row's extra files
(:func:`seggal.zoo.catalogue.extra_files`: RF-Next's searched-structure json from the benchmark repository at a
pinned commit) are fetched first, the same way, into the same staging folder; the download is then saved beside
them under :data:`STAGED_NAMES` and the converter reads the folder. Torch files are read with
``torch.load(weights_only=True)`` only (:func:`seggal.zoo.safe.load_torch`). The converted folder is installed
into the cache as one snapshot (:func:`install_snapshot`: ``models--<org>--<name>/snapshots/<revision>/`` and
``refs/<ref>``, staged and moved in with ``os.replace``), so a failed or cut pull leaves nothing half-written
there, and ``huggingface_hub.snapshot_download(repo, local_files_only=True)`` (or ``HF_HUB_OFFLINE=1``)
serves it afterwards.

Configuration: ``SEGGAL_DRIVE_URL`` (Google Drive's base URL, default ``https://drive.google.com``; a test
points it at a local server), ``SEGGAL_GITHUB_RAW_URL`` (the same for ``https://raw.githubusercontent.com``),
``SEGGAL_CACHE`` (staging folder parent, default ``~/.cache/seggal``) and huggingface_hub's ``HF_HUB_CACHE`` /
``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` (read at call time).

``progress`` callbacks get ``(done, total)``: bytes for a file (``total`` None when unknown).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from seggal.checkpoint import hf_cache
from seggal.errors import SegGalError
from seggal.hub import mirror_revision, repo_id
from seggal.provenance import sha256_file, sha256_tree
from seggal.zoo import cellpose_fetch
from seggal.zoo.catalogue import extra_files
from seggal.zoo.safe import load_torch

Progress = Callable[[int, "int | None"], None]
DRIVE_URL_ENV = "SEGGAL_DRIVE_URL"
DEFAULT_DRIVE_URL = "https://drive.google.com"
RAW_URL_ENV = "SEGGAL_GITHUB_RAW_URL"
DEFAULT_RAW_URL = "https://raw.githubusercontent.com"
#: The name a format's download is saved under beside the row's extra files (the converter finds it in that
#: folder by its suffix: the paper's MMDetection checkpoint, read with RF-Next's json).
STAGED_NAMES = {"mmdet2": "checkpoint.pth"}
#: Formats whose files are torch pickles (checked with :func:`load_torch` before conversion).
TORCH_FORMATS = ("mmdet2", "cellpose2", "cellpose3", "sam", "micro-sam", "detectron2")
SOURCES = ("hub", "paper")
RETRIES = 5
TIMEOUT_S = 30


@dataclass(frozen=True)
class Fetched:
    """An original download: ``path`` (file or folder), its ``sha256`` (of the file; of the sorted
    ``name sha256`` lines for a folder) and ``url``; ``extras``: the row's extra files, when ``path`` is the
    folder holding them beside the download (``sha256`` and ``url`` are then the download's)."""

    path: Path
    sha256: str
    url: str
    extras: tuple["Fetched", ...] = ()


# ----------------------------------------------------------------------------------------------- locations


def drive_base() -> str:
    """Google Drive's base URL (``SEGGAL_DRIVE_URL``, default ``https://drive.google.com``)."""
    return os.environ.get(DRIVE_URL_ENV, DEFAULT_DRIVE_URL).rstrip("/")


def drive_url(drive_kind: str, drive_id: str) -> str:
    """The URL gdown downloads a Drive ``file`` (``<base>/uc?id=ID``) or ``folder`` (``<base>/drive/folders/ID``) from."""
    if drive_kind == "file":
        return f"{drive_base()}/uc?id={drive_id}"
    if drive_kind == "folder":
        return f"{drive_base()}/drive/folders/{drive_id}"
    raise SegGalError(f"Drive link kind {drive_kind!r} is not 'file' or 'folder'")


def raw_url(url: str) -> str:
    """Where a published URL is downloaded from: a GitHub raw link on :data:`RAW_URL_ENV`'s base when set."""
    base = os.environ.get(RAW_URL_ENV, DEFAULT_RAW_URL).rstrip("/")
    return base + url[len(DEFAULT_RAW_URL):] if url.startswith(DEFAULT_RAW_URL + "/") else url


def source_url(entry: Mapping) -> str:
    """Where the original of a catalogue ``entry`` is downloaded from (Drive URL or the entry's own URL)."""
    return drive_url(entry["drive_kind"], entry["drive_id"]) if entry.get("drive_id") else entry["url"]


def downloads_dir() -> Path:
    """Staging folder of original downloads (partial files live here until complete), outside the HF cache."""
    return Path(os.environ.get("SEGGAL_CACHE", Path.home() / ".cache" / "seggal")) / "downloads"


def _repo_folder(repo: str, cache_dir: Path) -> Path:
    return cache_dir / ("models--" + repo.replace("/", "--"))


def _hand_import(entry: Mapping) -> str:
    extras = extra_files(entry)
    what = (f"{entry['url']} and {', '.join(x.url for x in extras)} by hand into one folder" if extras
            else f"{entry['url']} by hand")
    return (f"download {what} and run `python -m seggal models import {'FOLDER' if extras else 'PATH'} --method "
            f"{entry['method_id']} --task {entry['task']} --train-set {entry['training_set']} --out DIR`")


# ----------------------------------------------------------------------------------------------- originals


def _network_error(exc: BaseException) -> bool:
    import requests

    while exc is not None:
        if isinstance(exc, (requests.ConnectionError, requests.Timeout)) and not isinstance(
                exc, requests.exceptions.ChunkedEncodingError):
            return True
        exc = exc.__cause__
    return False


def fetch_file(url: str, folder: Path, *, sha256: str = "", progress: Progress | None = None,
               entry: Mapping | None = None, name: str | None = None, how: str | None = None) -> Fetched:
    """Download ``url`` (a Drive ``uc?id=`` URL or any HTTP(S) URL) into ``folder`` with gdown → :class:`Fetched`.

    Resumable: a partial file left in ``folder`` by an earlier attempt is continued with an HTTP ``Range``
    request, and a connection cut mid-file is retried from where it stopped (``RETRIES`` times). A known
    ``sha256`` is checked; a mismatch deletes the file. Errors are :class:`SegGalError`; one that cannot connect
    says "needs a network" and ``how`` to do without (default: how to import a hand-downloaded model file).
    ``name``: the file name to write (default: the server's); a complete file of that name is not fetched again.
    """
    import gdown
    from gdown.exceptions import DownloadError, FileURLRetrievalError

    folder.mkdir(parents=True, exist_ok=True)
    if name is not None and (folder / name).is_file():
        return _checked(folder / name, sha256_file(folder / name), sha256, url)
    hasher = hashlib.sha256()
    how = how or (_hand_import(entry) if entry else
                  f"download {url} by hand and import it with `python -m seggal models import`")
    try:
        path = gdown.download(url, output=str(folder / name) if name else str(folder) + os.sep,
                              quiet=progress is not None, use_cookies=False,
                              resume=True, retries=RETRIES, timeout=TIMEOUT_S, progress=progress, hasher=hasher)
    except Exception as exc:  # noqa: BLE001 — gdown / requests raise many types; all become one clear message
        if _network_error(exc):
            raise SegGalError(f"needs a network: cannot connect to {url} ({type(exc).__name__}); {how}") from None
        if isinstance(exc, (DownloadError, FileURLRetrievalError)) or _is_requests(exc):
            raise SegGalError(f"download of {url} failed: {exc}; the partial file stays in {folder} and the next "
                              f"pull resumes it; nothing was stored in the model cache") from None
        raise
    return _checked(Path(path), hasher.hexdigest(), sha256, url)


def _checked(path: Path, digest: str, sha256: str, url: str) -> Fetched:
    """:class:`Fetched` for a complete download whose SHA-256 is ``digest``; a mismatch with a known ``sha256``
    deletes the file."""
    if sha256 and digest != sha256:
        path.unlink()
        raise SegGalError(f"download of {url} is corrupt or truncated: SHA-256 {digest} is not the published "
                          f"{sha256}; it was deleted and nothing was stored in the model cache")
    return Fetched(path, digest, url)


def _is_requests(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.RequestException)


def fetch_folder(url: str, folder: Path, *, entry: Mapping | None = None) -> Fetched:
    """Download a Google Drive folder (``gdown.download_folder``, resumable) into ``folder`` → :class:`Fetched`
    whose ``sha256`` is that of the sorted ``relative-path sha256`` lines of its files."""
    import gdown

    folder.mkdir(parents=True, exist_ok=True)
    try:
        files = gdown.download_folder(url=url, output=str(folder), quiet=False, use_cookies=False, resume=True,
                                      retries=RETRIES, timeout=TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001
        if _network_error(exc):
            how = _hand_import(entry) if entry else "download it by hand"
            raise SegGalError(f"needs a network: cannot connect to {url} ({type(exc).__name__}); {how}") from None
        raise SegGalError(f"download of Drive folder {url} failed: {exc}") from None
    if not files:
        raise SegGalError(f"Drive folder {url} holds no files")
    return Fetched(folder, sha256_tree(folder), url)


def drive_folder_files(folder_id: str) -> list[tuple[str, str]]:
    """The files of a public Google Drive folder, sub-folders included → sorted ``(relative path, file id)``.

    The listing is gdown's own (its parser of Drive's folder view), read from :func:`drive_base` so that a
    test can serve it from 127.0.0.1; the files are then fetched one by one with :func:`fetch_file`, which
    gives each a progress bar, resumption and a SHA-256 (``gdown.download_folder`` gives neither).
    """
    import requests
    from gdown.download_folder import _download_and_parse_google_drive_link, _get_directory_structure

    class _Session(requests.Session):  # gdown's listing URL is fixed to Google: point it at drive_base()
        def request(self, method, url, *args, **kwargs):
            return super().request(method, url.replace(DEFAULT_DRIVE_URL, drive_base(), 1), *args, **kwargs)

    url = drive_url("folder", folder_id)
    try:
        with _Session() as session:
            tree = _download_and_parse_google_drive_link(sess=session, folder_id=folder_id, quiet=True, verify=True,
                                                         timeout=TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 — requests / gdown raise many types; all become one clear message
        if _network_error(exc):
            raise SegGalError(f"needs a network: cannot connect to {url} ({type(exc).__name__})") from None
        raise SegGalError(f"cannot list Drive folder {url}: {exc}") from None
    files = sorted((path, item.id) for item, path in _get_directory_structure(gdrive_file=tree, previous_path="")
                   if item is not None)
    if not files:
        raise SegGalError(f"Drive folder {url} holds no files")
    return files


def fetch_original(entry: Mapping, *, progress: Progress | None = None) -> Fetched:
    """Download the original of a catalogue ``entry`` into ``downloads_dir()/<key>/`` and check it: a zip
    (not a torch file) is unpacked, and every torch file is read with ``weights_only=True`` (a pickle that
    would run code is refused and deleted). The row's extra files come first (a failure costs no big
    download), and then the :class:`Fetched` is the folder holding them and the download."""
    folder = _original_dir(entry)
    url = source_url(entry)
    extras = extra_files(entry)
    if extras and (entry["format"] == "cellpose3" or entry.get("drive_kind") == "folder"):
        raise SegGalError(f"{entry['url']}: extra files are fetched beside a single downloaded file only")
    fetched_extras = tuple(fetch_file(raw_url(x.url), folder, sha256=x.sha256, name=x.name, how=_hand_import(entry))
                           for x in extras)
    if entry["format"] == "cellpose3":  # through Cellpose's own downloader (seggal.zoo.cellpose_fetch)
        path, url = cellpose_fetch.fetch(entry["training_set"], folder, entry["url"])
        fetched = _checked(path, sha256_file(path), entry.get("sha256", ""), url)
        if progress is not None:  # Cellpose draws its own bar (stderr); the caller learns that the file is complete
            progress(path.stat().st_size, path.stat().st_size)
    elif entry.get("drive_kind") == "folder":
        fetched = fetch_folder(url, folder / "folder", entry=entry)
    else:
        fetched = fetch_file(url, folder, sha256=entry.get("sha256", ""), progress=progress, entry=entry,
                             name=STAGED_NAMES.get(entry["format"]) if extras else None)
        if fetched.path.suffix == ".zip" and entry["format"] not in TORCH_FORMATS:
            fetched = Fetched(unpack_zip(fetched.path), fetched.sha256, fetched.url)
    if entry["format"] in TORCH_FORMATS:
        files = [fetched.path] if fetched.path.is_file() else [p for p in fetched.path.rglob("*") if p.is_file()
                                                                and p.suffix in ("", ".pth", ".pt", ".pkl", ".bin")]
        for path in files:
            try:
                load_torch(path)
            except SegGalError:
                shutil.rmtree(folder, ignore_errors=True)
                raise
    return Fetched(folder, fetched.sha256, fetched.url, fetched_extras) if extras else fetched


def _original_dir(entry: Mapping) -> Path:
    return downloads_dir() / repo_id(entry["method_id"], entry["task"], entry["training_set"], org="original")


def unpack_zip(path: Path) -> Path:
    """Unpack a zip beside itself (members may not leave the folder) → the folder."""
    out = path.with_suffix("")
    staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp", dir=path.parent))
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise SegGalError(f"{path}: member {name!r} would be written outside the folder")
            archive.extractall(staged)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(staged, ignore_errors=True)
        raise SegGalError(f"{path}: not a readable zip archive ({exc})") from None
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staged, out)
    return out


# ----------------------------------------------------------------------------------------------- cache


def install_snapshot(folder: Path, repo: str, *, revision: str | None = None, ref: str = "main",
                     cache_dir: Path | None = None) -> Path:
    """Copy a complete checkpoint ``folder`` into the Hugging Face cache as repository ``repo`` → snapshot path.

    Layout huggingface_hub reads: ``models--<org>--<name>/snapshots/<revision>/<files>`` and
    ``refs/<ref>`` holding ``revision`` (default: a SHA-1 of the files' names and SHA-256s, 40 hex digits).
    The snapshot is assembled in the repository's ``blobs/`` folder (where huggingface_hub keeps its own
    incomplete downloads, never read as a snapshot), then moved in with ``os.replace``, and the ref is written
    last, also with ``os.replace``: a reader sees the old state or the complete new one.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else hf_cache()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if revision is None:
        listing = "\n".join(f"{p.relative_to(folder).as_posix()} {sha256_file(p)}" for p in files)
        revision = hashlib.sha1(listing.encode()).hexdigest()  # noqa: S324 — a name, as git's, not security
    root = _repo_folder(repo, cache_dir)
    fresh = not root.exists()
    blobs, snapshots, refs = root / "blobs", root / "snapshots", root / "refs"
    staged = None
    try:
        for sub in (blobs, snapshots, refs):
            sub.mkdir(parents=True, exist_ok=True)
        target = snapshots / revision
        if not target.is_dir():
            staged = Path(tempfile.mkdtemp(prefix=".seggal-", suffix=".incomplete", dir=blobs))
            for path in files:
                dest = staged / path.relative_to(folder)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
                with open(dest, "rb") as handle:
                    os.fsync(handle.fileno())
            os.replace(staged, target)
            staged = None
        fd, tmp = tempfile.mkstemp(prefix=".seggal-ref-", suffix=".incomplete", dir=blobs)
        with os.fdopen(fd, "w") as handle:
            handle.write(revision)
        (refs / ref).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, refs / ref)
    except BaseException:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
        if fresh:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return target


def cached_snapshot(repo: str, revision: str | None = None, cache_dir: Path | None = None) -> Path | None:
    """The cached snapshot of ``repo`` (through ``huggingface_hub.snapshot_download(local_files_only=True)``), or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo, revision=revision, cache_dir=cache_dir or hf_cache(), local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError):
        return None


# ----------------------------------------------------------------------------------------------- pull


def pull_hub(repo: str, *, revision: str | None = None, cache_dir: Path | None = None) -> Path:
    """Download SegGal's converted checkpoint ``repo`` at ``revision`` (default ``main``) from the Hub
    (``HF_ENDPOINT``) → its cached snapshot.

    The download runs into a staging cache in :func:`downloads_dir` (huggingface_hub resumes its own partial
    files there), and the complete snapshot is then installed with :func:`install_snapshot`, its ``main`` ref
    naming the revision pulled (so ``org/name`` serves it offline).
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    staging = downloads_dir() / "hub"
    try:
        folder = Path(snapshot_download(repo, revision=revision, cache_dir=staging,
                                        endpoint=os.environ.get("HF_ENDPOINT") or None))
    except LocalEntryNotFoundError as exc:
        raise SegGalError(f"needs a network: the Hub ({os.environ.get('HF_ENDPOINT') or 'huggingface.co'}) cannot "
                          f"be reached for {repo} ({exc.__class__.__name__})") from None
    except HfHubHTTPError as exc:
        raise SegGalError(f"Hub: {repo}: {exc}") from None
    snapshot = install_snapshot(folder, repo, revision=folder.name, cache_dir=cache_dir)
    for leftover in (_repo_folder(repo, staging), staging / ".locks" / _repo_folder(repo, staging).name):
        shutil.rmtree(leftover, ignore_errors=True)
    return snapshot


def pull_original(entry: Mapping, *, progress: Progress | None = None, cache_dir: Path | None = None) -> Path:
    """Download the original of a catalogue ``entry`` (with its extra files), convert it
    (``seggal.zoo.convert.convert``) and install the checkpoint in the Hugging Face cache → the snapshot folder."""
    fetched = fetch_original(entry, progress=progress)
    try:
        from seggal.zoo.convert import convert
    except ImportError:
        raise SegGalError(f"{fetched.path} is downloaded, but this SegGal has no converter for {entry['format']} "
                          "files yet (seggal.zoo.convert)") from None
    repo = repo_id(entry["method_id"], entry["task"], entry["training_set"])
    with tempfile.TemporaryDirectory(prefix=".convert-", dir=downloads_dir()) as tmp:
        out = convert(fetched.path, method=entry["method_id"], task=entry["task"], training_set=entry["training_set"],
                      out=Path(tmp) / "checkpoint", source_url=entry["url"], sha256=fetched.sha256,
                      generalist=entry.get("source") == "generalist", source_format=entry["format"],
                      extra_files=[{"name": x.name, "url": x.url, "sha256": f.sha256}
                                   for x, f in zip(extra_files(entry), fetched.extras)])
        snapshot = install_snapshot(Path(out), repo, cache_dir=cache_dir)
    shutil.rmtree(_original_dir(entry), ignore_errors=True)  # converted and cached: the original is not kept
    return snapshot


def pull(entry: Mapping, *, source: str | None = None, progress: Progress | None = None,
         cache_dir: Path | None = None) -> Path:
    """Pull one catalogue ``entry`` → its snapshot in the Hugging Face cache.

    ``source`` None: the Hub mirror at the commit the mirror index pins for the entry's repository
    (:func:`seggal.hub.mirror_revision`), else — no pinned row, the Hub unreachable or lacking that commit —
    the original. ``hub``: the mirror only (the pinned commit, or ``main`` when the index has no row).
    ``paper``: the original only.
    """
    if source not in (None, *SOURCES):
        raise SegGalError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    repo = repo_id(entry["method_id"], entry["task"], entry["training_set"])
    revision = mirror_revision(repo) if source != "paper" else None
    if source == "hub" or revision:
        try:
            return pull_hub(repo, revision=revision, cache_dir=cache_dir)
        except SegGalError:
            if source == "hub":
                raise
    return pull_original(entry, progress=progress, cache_dir=cache_dir)
