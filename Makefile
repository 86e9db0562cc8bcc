# SegGal: two commands for a fresh machine — `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-requirements.txt

.PHONY: run test install mmdet deepcell bench

# Create .venv when missing; (re)install only when requirements.txt differs from what was installed.
install:
	@test -x $(PY) || { echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@if cmp -s requirements.txt $(STAMP); then \
		echo "requirements unchanged: reusing $(VENV)"; \
	else \
		echo "installing requirements.txt into $(VENV)"; \
		$(PY) -m pip install --progress-bar off -r requirements.txt && cp requirements.txt $(STAMP); \
	fi

run: install
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $${PORT:-8501}

test: install
	$(PY) -m pytest

# Optional: MMDetection and mmcv built from source (about 10 minutes on two cores the first time,
# then reused from the wheel cache). `make run` and `make test` work without it.
mmdet: install
	bash scripts/install_mmdet.sh $(PY)

# Optional: deepcell 0.12.10 (Mesmer, FeatureNet) on tf-keras, run in a worker process beside StarDist's
# Keras 3 (under a minute: deepcell-toolbox's Cython extension is built here). `make run` and
# `make test` work without it.
deepcell: install
	bash scripts/install_deepcell.sh $(PY)
