# msk-maps: install · demo · models · test · bench · package
# Holoscan wants a 32 MiB stack; every recipe line runs under it.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
STACK := ulimit -s 32768;
DEMO ?= demo
PYTHON ?= python3

.PHONY: install models demo test lint bench package package-test clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

models: install
	$(STACK) $(PY) -m training.build_demo_models --models-dir models --work build/demo-training

demo: models
	$(STACK) $(PY) -m phantoms ankle-mri --out $(DEMO)/input/ankle_mri --patients 6 --seed 2026 --broken
	$(STACK) $(PY) -m apps.olt_mri -i $(DEMO)/input -o $(DEMO)/output/olt_mri -m models
	@echo
	@echo "Demo results:"
	@echo "  olt_mri:   $(DEMO)/output/olt_mri/results.csv  (per study: $(DEMO)/output/olt_mri/<StudyInstanceUID>/)"
	@echo "  failures:  $(DEMO)/output/olt_mri/failures.csv"

lint: install
	$(VENV)/bin/ruff check .

test: install lint
	$(STACK) $(VENV)/bin/python -m pytest -q

bench: install
	$(STACK) $(PY) -m bench

clean:
	rm -rf build $(DEMO) dist
