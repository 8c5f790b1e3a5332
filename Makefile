# msk-maps: install · demo · models · test · bench · package
# Holoscan wants a 32 MiB stack; every recipe line runs under it.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
STACK := ulimit -s 32768;
DEMO ?= demo
PYTHON ?= python3
OLT_MODELS := models/olt_mri_t1/olt_mri_t1.ts models/olt_mri_t2/olt_mri_t2.ts

.PHONY: install models demo test lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Deterministic demo models trained on phantoms (a few minutes on 2 CPU cores); rebuilt when training code changes.
$(OLT_MODELS) &: $(VENV)/.installed $(wildcard training/*.py phantoms/*.py)
	$(STACK) $(PY) -m training.build_demo_models --models-dir models --work build/demo-training

models: $(OLT_MODELS)

demo: models
	rm -rf $(DEMO)
	$(STACK) $(PY) -m phantoms ankle-mri --out $(DEMO)/input/ankle_mri --patients 6 --seed 2026 --broken
	$(STACK) $(PY) -m apps.olt_mri -i $(DEMO)/input -o $(DEMO)/output/olt_mri -m models
	@echo
	@echo "Demo results (phantom input in $(DEMO)/input):"
	@echo "  olt_mri   $(DEMO)/output/olt_mri/results.csv   per study: $(DEMO)/output/olt_mri/<StudyInstanceUID>/"
	@echo "            (report_sr.dcm, key_*_sc.dcm, key_*.png, result.json)"
	@echo "  unusable inputs: $(DEMO)/output/olt_mri/failures.csv    run summary: $(DEMO)/output/olt_mri/run.json"

lint: install
	$(VENV)/bin/ruff check .

test: install lint
	$(STACK) $(PY) -m pytest -q

bench: models
	$(STACK) $(PY) -m bench

clean:
	rm -rf build $(DEMO) dist
