"""Fetch a Cellpose generalist (``cyto3``, ``nuclei``, ``tissuenet_cp3`` …) through Cellpose's own mechanism.

``cellpose.models.model_path(name)`` names the file as Cellpose does (``nuclei`` → ``nucleitorch_0``) and
downloads ``<_MODEL_URL>/<file>`` into ``MODEL_DIR`` with ``cellpose.utils.download_url_to_file`` (a temporary
file in the same folder, moved into place when complete; Cellpose's tqdm bar on stderr). SegGal runs that code
with the two module settings pointed elsewhere for the call: the URL at :func:`model_url`
(``SEGGAL_CELLPOSE_URL``, default Cellpose's ``https://www.cellpose.org/models``; a test points it at a server on
127.0.0.1) and the folder at the pull's staging folder (outside the Hugging Face cache and outside Cellpose's own
model folder). Cellpose's downloader does not resume: a cut transfer starts again on the next pull.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seggal.errors import SegGalError

URL_ENV = "SEGGAL_CELLPOSE_URL"
TIMEOUT_S = 30
_LOCK = threading.Lock()  # the settings are cellpose.models' module globals: one fetch at a time


def model_url() -> str:
    """Base URL of Cellpose's model files (``SEGGAL_CELLPOSE_URL``, else ``cellpose.models._MODEL_URL``)."""
    from cellpose import models

    return (os.environ.get(URL_ENV) or models._MODEL_URL).rstrip("/")


@contextmanager
def _cellpose_source(url: str, folder: Path) -> Iterator[object]:
    """``cellpose.models`` with its download URL and model folder set to ``url`` / ``folder`` (restored after),
    and a socket timeout (Cellpose's downloader sets none)."""
    from cellpose import models

    with _LOCK:
        saved = models._MODEL_URL, models.MODEL_DIR, socket.getdefaulttimeout()
        models._MODEL_URL, models.MODEL_DIR = url, folder
        socket.setdefaulttimeout(TIMEOUT_S)
        try:
            yield models
        finally:
            models._MODEL_URL, models.MODEL_DIR = saved[:2]
            socket.setdefaulttimeout(saved[2])


def fetch(name: str, folder: Path, published_url: str) -> tuple[Path, str]:
    """Download Cellpose's model ``name`` into ``folder`` with Cellpose's own code → (file, URL it came from).

    ``published_url`` is the catalogue's link; the file name Cellpose chooses must be its last part (else the
    catalogue and Cellpose disagree: :class:`SegGalError`). Network failures are :class:`SegGalError` saying
    that the pull needs a network; nothing is left in ``folder`` but complete files.
    """
    from urllib.error import HTTPError, URLError

    from cellpose.models import MODEL_NAMES

    if name not in MODEL_NAMES:
        raise SegGalError(f"{name!r} is not one of Cellpose's models ({', '.join(MODEL_NAMES)})")
    base, expected = model_url(), published_url.rstrip("/").rsplit("/", 1)[-1]
    folder.mkdir(parents=True, exist_ok=True)
    url = f"{base}/{expected}"
    try:
        with _cellpose_source(base, folder) as models:
            path = Path(models.model_path(name))
    except HTTPError as exc:
        raise SegGalError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; nothing was stored in the "
                          "model cache") from None
    except (URLError, TimeoutError, ConnectionError) as exc:
        raise SegGalError(f"needs a network: cannot download Cellpose's {name!r} from {url} ({exc}); download it "
                          f"by hand and run `python -m seggal models import`") from None
    if path.name != expected:
        path.unlink(missing_ok=True)
        raise SegGalError(f"Cellpose names its {name!r} file {path.name!r}, the catalogue {published_url}")
    return path, f"{base}/{path.name}"
