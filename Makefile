# msk-maps: install · demo · models · test · bench · package · cluster-test
# Holoscan wants a 32 MiB stack; every recipe line runs under it.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
STACK := ulimit -s 32768;
DEMO ?= demo
PYTHON ?= python3
OLT_MODELS := models/olt_mri_t1/olt_mri_t1.ts models/olt_mri_t2/olt_mri_t2.ts
XRAY_MODELS := models/ankle_xray_detector/ankle_xray_detector.ts models/ankle_xray_classifier/ankle_xray_classifier.ts
ONFH_MODELS := models/onfh_mri_femoral_head/onfh_mri_femoral_head.ts
# What every demo model build reads; each app's models also depend on their own training/phantom modules.
TRAIN_COMMON := $(VENV)/.installed training/export.py training/metrics.py training/evaluate.py training/plots.py \
	training/splits.py phantoms/dicom_headers.py $(wildcard inference/*.py) dicom_in/pixel_decode.py

.PHONY: install models demo test lint bench bench-paper-size clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Deterministic demo models trained on phantoms (minutes on 2 CPU cores); rebuilt when their training code changes.
$(OLT_MODELS) &: $(TRAIN_COMMON) training/build_demo_models.py training/train_classifier.py \
		training/classifier_cam.py training/olt_manifest.py phantoms/ankle_mri.py
	$(STACK) $(PY) -m training.build_demo_models --models-dir models --work build/demo-training

$(XRAY_MODELS) &: $(TRAIN_COMMON) $(wildcard training/*fragment*.py training/mobilenet_v2.py phantoms/ankle_xray.py \
		phantoms/pixel_encoding.py training/ankle_xray*.py apps/ankle_xray/*.py)
	$(STACK) $(PY) -m training.ankle_xray_models --models-dir models --work build/demo-training/ankle_xray

$(ONFH_MODELS) &: $(TRAIN_COMMON) $(wildcard training/*segment*.py training/femoral_unet.py phantoms/hip_mri.py \
		training/onfh*.py training/evaluate_onfh.py apps/onfh_mri/*.py)
	$(STACK) $(PY) -m training.onfh_models --models-dir models --work build/demo-training/onfh_mri

models: $(OLT_MODELS) $(XRAY_MODELS) $(ONFH_MODELS)

demo: models
	rm -rf $(DEMO)
	$(STACK) $(PY) -m phantoms ankle-mri --out $(DEMO)/input/ankle_mri --patients 6 --seed 2026 --broken
	$(STACK) $(PY) -m phantoms ankle-xray --out $(DEMO)/input/ankle_xray --patients 6 --seed 2026 --syntax-variants
	$(STACK) $(PY) -m phantoms hip-mri --out $(DEMO)/input/hip_mri --patients 4 --seed 2026
	$(STACK) $(PY) -m apps.olt_mri -i $(DEMO)/input -o $(DEMO)/output/olt_mri -m models
	$(STACK) $(PY) -m apps.ankle_xray -i $(DEMO)/input -o $(DEMO)/output/ankle_xray -m models
	$(STACK) $(PY) -m apps.onfh_mri -i $(DEMO)/input -o $(DEMO)/output/onfh_mri -m models
	@echo
	@echo "Demo results (phantom input in $(DEMO)/input; each app reads the whole folder and picks its studies):"
	@for app in olt_mri ankle_xray onfh_mri; do \
	  echo "  $$app: $(DEMO)/output/$$app/results.csv   per study: $(DEMO)/output/$$app/<StudyInstanceUID>/"; done
	@echo "  (report_sr.dcm, *_sc.dcm + PNGs, segmentation_seg.dcm for onfh_mri, result.json)"
	@echo "  unusable inputs: $(DEMO)/output/<app>/failures.csv    run summary: $(DEMO)/output/<app>/run.json"

lint: install
	$(VENV)/bin/ruff check .

test: install lint
	$(STACK) $(PY) -m pytest -q -m "not package"

bench: models
	$(STACK) $(PY) -m bench

bench-paper-size: install
	$(STACK) $(PY) -m bench --paper-size

clean:
	rm -rf build $(DEMO) dist

# MAP packaging (make package, make package-test)
-include packaging/package.mk
# Scaling out (make cluster-test)
-include deploy/deploy.mk
