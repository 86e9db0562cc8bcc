"""Packaging: pyproject.toml declares requirements.txt's dependencies and a working ``seggal`` command."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

import seggal.cli

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(lines) -> dict[str, str]:
    """Requirement lines → {normalised name: specifier set as text}."""
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            out[req.name.lower().replace("_", "-")] = str(req.specifier)
    return out


REQUIREMENTS = _requirements((ROOT / "requirements.txt").read_text().splitlines())
CORE = _requirements(PYPROJECT["project"]["dependencies"])
TEST = _requirements(PYPROJECT["project"]["optional-dependencies"]["test"])


def test_pyproject_declares_requirements_txt_as_core_plus_test_extra():
    assert not CORE.keys() & TEST.keys()
    assert CORE | TEST == REQUIREMENTS
    # the packages only the tests and bench/ import are not forced on users
    assert {"pytest", "hypothesis", "selenium", "faster-coco-eval"} == TEST.keys()
    assert {"torch", "streamlit", "cellpose", "stardist", "pycocotools"} <= CORE.keys()


def test_mmdet_extra_pins_what_install_mmdet_sh_installs():
    extra = _requirements(PYPROJECT["project"]["optional-dependencies"]["mmdet"])
    script = (ROOT / "scripts" / "install_mmdet.sh").read_text()
    assert extra == {"mmdet": "==3.3.0", "mmengine": "==0.10.7"}
    for name, spec in extra.items():
        assert f"{name.upper()}_VERSION={spec.removeprefix('==')}" in script
    assert "mmcv" not in extra  # built from source by the script (see the comment in pyproject.toml)


def test_console_script_is_the_main_of_python_m_seggal(capsys):
    module, _, attr = PYPROJECT["project"]["scripts"]["seggal"].partition(":")
    entry = getattr(__import__(module, fromlist=[attr]), attr)
    assert entry is seggal.cli.main
    assert "from seggal.cli import main" in (ROOT / "seggal" / "__main__.py").read_text()
    assert entry(["rank", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["method"] == "Swin-S"


def test_built_wheel_installs_a_seggal_command_that_reads_its_packaged_scores(tmp_path):
    """Build the wheel from a copy of the sources, install it with pip into a folder, run ``seggal``."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "runs")
    for name in ("seggal", "training", "results"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(dist), str(src)], check=True, cwd=tmp_path)
    (wheel,) = dist.glob("seggal-*.whl")

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        metadata = zf.read(f"{info}/METADATA").decode().splitlines()
        packaged_scores = zf.read("seggal/_results/published/scores.csv")
    assert "[console_scripts]\nseggal = seggal.cli:main" in entry_points
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata if line.startswith("Requires-Dist: ")]
    assert _requirements(r for r in requires if "extra ==" not in r) == CORE
    modules = {p.relative_to(ROOT).as_posix() for d in ("seggal", "training") for p in (ROOT / d).rglob("*.py")}
    assert modules - names == set(), "modules missing from the wheel: list their package in pyproject.toml"
    default_model = {p.relative_to(ROOT).as_posix() for p in (ROOT / "seggal/models/default").iterdir()}
    assert default_model <= names and "seggal/models/default/model.safetensors" in default_model
    assert packaged_scores == (ROOT / "results/published/scores.csv").read_bytes()
    assert "seggal/_results/demo/run.json" in names

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                    str(target), str(wheel)], check=True, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "SEGGAL_RESULTS"} | {"PYTHONPATH": str(target)}
    out = subprocess.run([str(target / "bin" / "seggal"), "rank", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert [row["method"] for row in json.loads(out)[:3]] == ["Swin-S", "Swin-T", "Cellpose"]
    where = subprocess.run([sys.executable, "-c", "import seggal.results as r; print(r.PUBLISHED_SCORES)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where) == target / "seggal" / "_results" / "published" / "scores.csv"
