"""Probe SegGal with small hostile inputs and report CPU seconds and peak RSS of each (issue 18).

Usage: ``python bench/bench_inputs.py [PROBE ...] [--pages N]``; probes: ``pages`` (a TIFF of N tiny
pages), ``float64`` (8192² three-channel float64 TIFF, about 2 MB), ``complex`` (8192² complex128 TIFF),
``uint16`` (8192² three-channel uint16 TIFF: the largest ordinary image, which must still be read),
``npz`` (a TissueNet .npz whose deflated X is 1 GiB). Run it from a checkout's root: the probes import
that checkout's ``seggal``. Each probe runs in a fresh subprocess; its CPU time
and peak resident memory come from ``resource.getrusage(RUSAGE_CHILDREN)``, its outcome is the first line
of SegGal's error (or "decoded …"). Files are made in a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import numpy as np

SIDE = 8192


def make_pages(folder: Path, n: int) -> Path:
    import tifffile

    path = folder / "pages.tif"
    page = np.ones((2, 2), np.uint8)
    with tifffile.TiffWriter(path) as tif:
        for _ in range(n):
            tif.write(page)  # one shaped series per page: what makes series building slow
    return path


def make_plane(folder: Path, dtype, channels: int) -> Path:
    """A SIDE² image of ``dtype`` (a short repeating ramp, so zlib squeezes it), written tile by tile."""
    import tifffile

    path = folder / f"big_{np.dtype(dtype).name}.tif"
    shape = (SIDE, SIDE, channels) if channels > 1 else (SIDE, SIDE)
    tile = np.resize(np.arange(1, 252).astype(dtype), (256, 256) + shape[2:])  # not blank: decoded to the end
    tiles = (tile for _ in range((SIDE // 256) ** 2))
    tifffile.imwrite(path, data=tiles, shape=shape, dtype=dtype, compression="zlib", tile=(256, 256),
                     photometric="rgb" if channels == 3 else "minisblack")
    return path


def make_npz(folder: Path, gib: float = 1.0) -> Path:
    """A deepcell-layout TissueNet .npz whose X member deflates to ``gib`` GiB of zeros."""
    path = folder / "bomb.npz"
    n = int(gib * 2**30 / (256 * 256 * 2 * 4))
    header = {"descr": "<f4", "fortran_order": False, "shape": (n, 256, 256, 2)}
    chunk = bytes(2**24)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("X.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            left = n * 256 * 256 * 2 * 4
            while left:
                member.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
        for key, value in {"y": np.zeros((1, 4, 4, 2), np.int32), "tissue_list": np.array(["Lung"])}.items():
            with archive.open(f"{key}.npy", "w") as member:
                np.lib.format.write_array(member, value)
    return path


DECODE = """
import sys
from seggal.errors import SegGalError
from seggal.upload import decode, to_pixels
path = sys.argv[1]
try:
    pixels = to_pixels(decode(open(path, 'rb').read(), path), path)
    print(f'decoded {pixels.shape} {pixels.dtype}')
except SegGalError as err:
    print('refused:', str(err).splitlines()[0][:160])
"""

DATA_INFO = """
import sys
from seggal.cli import main
print('exit', main(['data', 'info', sys.argv[1]]))
"""


def measure(code: str, path: Path, env: dict | None = None) -> tuple[float, float, str]:
    """(CPU seconds, peak RSS in MiB, last output line) of running ``code`` on ``path`` in a subprocess
    (its own rusage, from ``os.wait4``)."""
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(path)], stdout=log,
                                 stderr=subprocess.STDOUT, text=True, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read().strip().splitlines()
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text[-1][:200] if text else f"exit {child.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probes", nargs="*", default=["pages", "float64", "complex", "uint16", "npz"])
    parser.add_argument("--pages", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for probe in args.probes:
            env = dict(os.environ)
            if probe == "pages":
                path, code = make_pages(folder, args.pages), DECODE
            elif probe == "float64":
                path, code = make_plane(folder, np.float64, 3), DECODE
            elif probe == "complex":
                path, code = make_plane(folder, np.complex128, 1), DECODE
            elif probe == "uint16":
                path, code = make_plane(folder, np.uint16, 3), DECODE
            elif probe == "npz":
                path, code = make_npz(folder), DATA_INFO
                env["SEGGAL_CACHE"] = str(folder / "cache")
            else:
                raise SystemExit(f"unknown probe {probe}")
            cpu, rss, outcome = measure(code, path, env)
            left = sum(f.stat().st_size for f in (folder / "cache").rglob("*") if f.is_file()) if probe == "npz" else 0
            print(f"{probe:8} {path.stat().st_size / 2**20:8.1f} MB file  {cpu:7.1f} s CPU  {rss:8.0f} MiB peak RSS"
                  + (f"  {left / 2**20:.0f} MiB left in the cache" if probe == "npz" else "") + f"  {outcome}",
                  flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
