#!/usr/bin/env bash
# Install the optional deepcell stack (Mesmer, FeatureNet) into the SegGal virtual environment:
#   bash scripts/install_deepcell.sh [PYTHON]      (`make deepcell` passes .venv/bin/python)
#
# deepcell 0.12.10, its last release, declares Python < 3.11 and tensorflow ~= 2.8; it runs on Python 3.11
# with TensorFlow 2.21 through tf-keras (Keras 2, imported as `tf_keras`) in a worker process that switches
# TF_USE_LEGACY_KERAS=1 (seggal/backends/deepcell_worker.py). So its packages are installed with
# --no-deps --ignore-requires-python, and their real run-time needs by name:
#   deepcell 0.12.10, deepcell-tracking 0.6.5 (pure Python), deepcell-toolbox 0.12.1 (an sdist whose
#   Cython < 3 extension is built here, against the environment's numpy), spektral (imported by
#   deepcell.model_zoo), tf-keras 2.21 (matching tensorflow-cpu 2.21; --no-deps, or pip would add a second
#   `tensorflow` distribution beside tensorflow-cpu), scikit-learn.
# StarDist keeps Keras 3: tf-keras is a separate package (`tf_keras`) and the switch never leaves the worker.
#
# Idempotent: exits at once when deepcell's Mesmer model module already imports through the worker's shim.
set -euo pipefail

PY=${1:-.venv/bin/python}
DEEPCELL_VERSION=0.12.10
TOOLBOX_VERSION=0.12.1
TRACKING_VERSION=0.6.5
SPEKTRAL_VERSION=1.3.1
TF_KERAS_VERSION=2.21.0

log() { echo "[install_deepcell $(date -u +%H:%M:%S)] $*"; }

if "$PY" -m seggal.backends.deepcell_worker --check 2>/dev/null; then
    log "deepcell already imports in $PY (through the worker's tf-keras shim): nothing to do"
    exit 0
fi

start=$(date +%s)
log "1/3 run-time dependencies: scikit-learn (and the build's Cython < 3, removed again below)"
"$PY" -m pip install --progress-bar off "scikit-learn>=1.3" "cython>=0.28,<3"
log "2/3 deepcell $DEEPCELL_VERSION, deepcell-toolbox $TOOLBOX_VERSION (Cython build), deepcell-tracking \
$TRACKING_VERSION, spektral $SPEKTRAL_VERSION, tf-keras $TF_KERAS_VERSION (--no-deps --ignore-requires-python)"
# --no-build-isolation: the toolbox's extension is compiled against the numpy it will run with.
"$PY" -m pip install --progress-bar off --no-deps --ignore-requires-python --no-build-isolation \
    "deepcell==$DEEPCELL_VERSION" "deepcell-toolbox==$TOOLBOX_VERSION" "deepcell-tracking==$TRACKING_VERSION" \
    "spektral==$SPEKTRAL_VERSION" "tf-keras==$TF_KERAS_VERSION"
"$PY" -m pip uninstall --yes --quiet cython
log "3/3 check: deepcell imports in the worker (TF_USE_LEGACY_KERAS=1 + shim)"
"$PY" -m seggal.backends.deepcell_worker --check
log "done in $(( $(date +%s) - start )) s"
