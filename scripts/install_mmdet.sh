#!/usr/bin/env bash
# Install the optional MMDetection stack (mmcv 2.1.0 with its C++ ops, mmengine, mmdet 3.3.0) into the
# SegGal virtual environment:  bash scripts/install_mmdet.sh [PYTHON]   (`make mmdet` passes .venv/bin/python)
#
# Or the paper's own MMDetection 2.28.2 (on mmcv-full 1.7.2, built the same way) into a side virtual
# environment DIR outside the project, which sees PYTHON's torch and numpy and shadows its mmcv / mmdet:
#     bash scripts/install_mmdet.sh --paper-side DIR [PYTHON]
# Only scripts/make_zoo_fixtures.py uses it (genuine MMDetection 2.28 checkpoints and predictions).
#
# mmcv publishes only a source distribution for torch 2.14 / Python 3.11, and its setup.py forces
# -std=c++14/17 while torch 2.14's headers need C++20. So, the first time, this script downloads the
# sdist, rewrites those flags to -std=c++20 and builds a wheel (about 10 minutes on two cores), then
# caches the wheel in $SEGGAL_WHEEL_CACHE (default ~/.cache/seggal/wheels) so later runs only install it.
#
# The build runs in a throw-away build environment that sees the target's packages (torch, numpy) through
# a .pth file and has its own setuptools < 70 (mmcv's setup.py imports pkg_resources, which newer
# setuptools no longer ship): the target environment's setuptools is left as it is.
#
# Idempotent: exits at once when mmdet, mmcv and mmcv's compiled ops already import.
set -euo pipefail

SIDE=""
if [[ "${1:-}" == "--paper-side" ]]; then
    SIDE=${2:?"--paper-side needs a folder"}; shift 2
fi
PY=${1:-.venv/bin/python}
if [[ -z "$SIDE" ]]; then
    MMCV_DIST=mmcv; MMCV_VERSION=2.1.0      # mmdet 3.3.0 asserts 2.0.0rc4 <= mmcv < 2.2.0
    MMDET_VERSION=3.3.0
    MMENGINE_VERSION=0.10.7
else
    MMCV_DIST=mmcv-full; MMCV_VERSION=1.7.2  # mmdet 2.28.2 asserts 1.3.17 <= mmcv-full < 1.8.0
    MMDET_VERSION=2.28.2
fi
CACHE=${SEGGAL_WHEEL_CACHE:-$HOME/.cache/seggal/wheels}
JOBS=${MAX_JOBS:-2}

log() { echo "[install_mmdet $(date -u +%H:%M:%S)] $*"; }

# sees_target VENV_PYTHON: VENV's site-packages also search the target's (after its own, so that its own
# packages shadow the target's)
sees_target() {
    local site
    site=$("$1" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    "$PY" -c "import sys; print('\n'.join(p for p in sys.path if p.endswith('-packages')))" > "$site/seggal-target.pth"
}

if [[ -n "$SIDE" ]]; then
    [[ -x "$SIDE/bin/python" ]] || { log "creating the side environment $SIDE"; "$PY" -m venv "$SIDE"; }
    sees_target "$SIDE/bin/python"
    TARGET="$SIDE/bin/python"
else
    TARGET="$PY"
fi
if "$TARGET" -c "import mmdet, mmcv, mmcv.ops; assert mmdet.__version__ == '$MMDET_VERSION'" 2>/dev/null; then
    log "mmdet $MMDET_VERSION and mmcv (with ops) already import in $TARGET: nothing to do"
    exit 0
fi

start=$(date +%s)
mkdir -p "$CACHE"
wheel=$(ls "$CACHE"/"${MMCV_DIST//-/_}"-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)

if [[ -z "$wheel" ]]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/seggal-mmcv.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    log "no cached $MMCV_DIST $MMCV_VERSION wheel in $CACHE: building one in $work"

    log "1/5 build environment (setuptools<70, sees the target's torch and numpy)"
    "$PY" -m venv "$work/buildenv"
    BPY="$work/buildenv/bin/python"
    sees_target "$BPY"
    "$BPY" -m pip install --quiet --progress-bar off "setuptools<70" wheel ninja
    # mmcv's setup.py silently builds a pure-Python wheel without ops when it cannot import torch
    "$BPY" -c "import torch, numpy; print('building against torch', torch.__version__)"

    log "2/5 download the $MMCV_DIST $MMCV_VERSION source distribution"
    "$BPY" -m pip download --quiet --progress-bar off --no-deps --no-binary :all: --no-build-isolation \
        "$MMCV_DIST==$MMCV_VERSION" -d "$work"
    tar -xzf "$work/$MMCV_DIST-$MMCV_VERSION.tar.gz" -C "$work"
    src="$work/$MMCV_DIST-$MMCV_VERSION"

    log "3/5 patch setup.py: -std=c++14 / -std=c++17 -> -std=c++20 (torch 2.14 headers need C++20)"
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$src/setup.py"
    if grep -qE -- '-std=c\+\+1[47]' "$src/setup.py"; then
        echo "setup.py still requests an old C++ standard" >&2; exit 1
    fi

    buildlog="$CACHE/$MMCV_DIST-$MMCV_VERSION-build.log"
    log "4/5 compile $MMCV_DIST with its ops (MMCV_WITH_OPS=1, MAX_JOBS=$JOBS); full log: $buildlog"
    # Speed-ups that do not change the compiled code: no debug info (CFLAGS=-g0 comes after Python's -g),
    # and a precompiled pytorch_cpp_helper.hpp, the torch-header include that opens almost every op
    # source (measured here: 25 s -> 5 s of CPU per source). GCC silently ignores a precompiled header
    # whose flags do not match, so at worst this step costs its own minute.
    export CFLAGS="${CFLAGS:-} -g0 -Winvalid-pch"
    log "  precompiling the torch headers (pytorch_cpp_helper.hpp.gch)"
    pch_flags=$("$BPY" - "$src" <<'PYEOF'
import os, shlex, sys, sysconfig
from torch.utils.cpp_extension import include_paths
common = os.path.join(sys.argv[1], "mmcv", "ops", "csrc", "common")
flags = shlex.split(sysconfig.get_config_var("CFLAGS") or "") + shlex.split(os.environ["CFLAGS"]) + ["-fPIC"]
flags += ["-I" + p for p in [common, *include_paths(), sysconfig.get_paths()["include"]]]
flags += ["-std=c++20", "-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=_ext"]
print(shlex.join(flags))
PYEOF
)
    eval "${CXX:-c++} $pch_flags -x c++-header $src/mmcv/ops/csrc/common/pytorch_cpp_helper.hpp \
        -o $src/mmcv/ops/csrc/common/pytorch_cpp_helper.hpp.gch" || log "  (precompiled header failed; compiling without it)"
    # mmcv compiles CUDA ops whenever torch sees a GPU, which needs nvcc: without it, hide the GPU.
    hide_gpu=""
    if [[ $("$BPY" -c "import torch; print(torch.cuda.is_available())") != True ]]; then
        log "  no GPU: CPU ops only (the MMDetection methods run on the CPU with this wheel)"
    elif command -v nvcc >/dev/null 2>&1; then
        log "  GPU and nvcc: compiling the CUDA ops too (much longer)"
    else
        log "  GPU but no nvcc: CPU ops only (the MMDetection methods run on the CPU with this wheel)"
        hide_gpu="CUDA_VISIBLE_DEVICES="
    fi
    build_start=$(date +%s)
    (cd "$src" && env $hide_gpu MMCV_WITH_OPS=1 MAX_JOBS=$JOBS "$BPY" -m pip wheel --no-deps --no-build-isolation \
        --progress-bar off -v -w "$work/dist" . > "$buildlog" 2>&1) &
    builder=$!
    sources=$(ls "$src"/mmcv/ops/csrc/pytorch/*.cpp "$src"/mmcv/ops/csrc/pytorch/cpu/*.cpp | wc -l)
    while kill -0 "$builder" 2>/dev/null; do  # a progress line every 30 s: object files compiled so far
        sleep 30
        done_objects=$(find "$src/build" -name '*.o' 2>/dev/null | wc -l)
        log "  compiled $done_objects of about $sources C++ sources after $(( $(date +%s) - build_start )) s"
    done
    if ! wait "$builder"; then
        tail -n 40 "$buildlog" >&2
        echo "$MMCV_DIST wheel build failed; full log: $buildlog" >&2
        exit 1
    fi
    built=$(ls "$work"/dist/"${MMCV_DIST//-/_}"-"$MMCV_VERSION"-*.whl | head -n 1)
    if [[ "$built" == *-none-any.whl ]]; then
        echo "$MMCV_DIST built without its compiled ops ($built); see $buildlog" >&2
        exit 1
    fi
    log "compiled in $(( $(date +%s) - build_start )) s; caching $(basename "$built") in $CACHE"
    cp "$built" "$CACHE/"
    wheel="$CACHE/$(basename "$built")"
else
    log "using cached wheel $wheel"
fi

if [[ -n "$SIDE" ]]; then
    log "5/5 install $MMCV_DIST and mmdet $MMDET_VERSION into $SIDE"
    # mmcv-full 1.x's Config.pretty_text calls yapf's FormatCode(..., verify=True), removed in yapf 0.40.2
    "$TARGET" -m pip install --progress-bar off --no-deps --force-reinstall "$wheel" "mmdet==$MMDET_VERSION" \
        "yapf==0.40.1" addict terminaltables
    "$TARGET" -c "import mmdet, mmcv, mmcv.ops; print('mmdet', mmdet.__version__, 'mmcv-full', mmcv.__version__)"
    log "done in $(( $(date +%s) - start )) s"
    exit 0
fi
log "5/5 install mmcv, mmengine $MMENGINE_VERSION and mmdet $MMDET_VERSION into $PY"
# --no-deps, then their other requirements by name: mmcv and mmengine require opencv-python, whose GUI
# build would overwrite the opencv-python-headless (same cv2 package) that the environment already has
# and needs libGL; headless provides everything mmcv uses.
"$PY" -m pip install --progress-bar off --no-deps --force-reinstall \
    "$wheel" "mmengine==$MMENGINE_VERSION" "mmdet==$MMDET_VERSION"
"$PY" -m pip install --progress-bar off addict yapf terminaltables shapely matplotlib rich termcolor \
    pyyaml packaging six tqdm scipy pycocotools opencv-python-headless
"$PY" -c "import mmdet, mmcv, mmcv.ops, mmengine; print('mmdet', mmdet.__version__, 'mmcv', mmcv.__version__, 'mmengine', mmengine.__version__)"
log "done in $(( $(date +%s) - start )) s"
