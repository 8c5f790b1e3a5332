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
# What every demo model build reads; each app's models also depend on their own training/phantom modules and on the
# app itself, since every build ends by running the app over unseen phantoms (training/study_gates.py).
TRAIN_COMMON := $(VENV)/.installed training/export.py training/metrics.py training/evaluate.py training/plots.py \
	training/splits.py training/study_gates.py training/cpu_threads.py training/app_evaluation.py \
	phantoms/dicom_headers.py $(wildcard inference/*.py) dicom_in/pixel_decode.py

# A recipe that fails (a model build whose app misses a target on its unseen phantoms) leaves no target behind, so the
# next `make models` builds and checks it again instead of taking the ungated weights as up to date.
.DELETE_ON_ERROR:

.PHONY: install models ablation demo pacs-demo test lint bench bench-paper-size clean ohif view view-test

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Deterministic demo models trained on phantoms (minutes on 2 CPU cores); rebuilt when their training code changes.
# Each build fails when the app misses a target on its unseen phantom set (see the model cards).
$(OLT_MODELS) &: $(TRAIN_COMMON) training/build_demo_models.py training/train_classifier.py \
		training/classifier_cam.py training/olt_manifest.py training/evaluate_olt.py phantoms/ankle_mri.py \
		$(wildcard apps/olt_mri/*.py)
	$(STACK) $(PY) -m training.build_demo_models --models-dir models --work build/demo-training

$(XRAY_MODELS) &: $(TRAIN_COMMON) $(filter-out training/ankle_xray_comparators.py, $(wildcard training/*fragment*.py \
		training/mobilenet_v2.py phantoms/ankle_xray.py phantoms/pixel_encoding.py training/ankle_xray*.py \
		apps/ankle_xray/*.py))
	$(STACK) $(PY) -m training.ankle_xray_models --models-dir models --work build/demo-training/ankle_xray

$(ONFH_MODELS) &: $(TRAIN_COMMON) $(filter-out training/onfh_ablation.py, $(wildcard training/*segment*.py \
		training/femoral_unet.py phantoms/hip_mri.py training/onfh*.py training/evaluate_onfh.py apps/onfh_mri/*.py))
	$(STACK) $(PY) -m training.onfh_models --models-dir models --work build/demo-training/onfh_mri

# The three apps' builds are independent and each trains on one thread (training/cpu_threads.py): they run side by
# side, so the two cores of a small machine both work (one after the other they took about 21 minutes at load ~2).
MODEL_JOBS ?= 3
models:
	$(MAKE) --no-print-directory -j$(MODEL_JOBS) $(OLT_MODELS) $(XRAY_MODELS) $(ONFH_MODELS)

# The comparisons that do not fit the models' time budget (about 40 minutes on 2 cores): onfh plain vs geo-pixel
# U-Net over three training seeds, and ankle_xray's four classifier networks. They write ABLATION.md and
# COMPARATORS.md under models/, which are committed and quoted by the next `make models` build's cards.
ablation: install
	$(STACK) $(PY) -m training.onfh_ablation --models-dir models --work build/ablation/onfh_mri
	$(STACK) $(PY) -m training.ankle_xray_comparators --models-dir models --work build/ablation/ankle_xray

demo: models
	rm -rf $(DEMO)
	$(STACK) $(PY) -m phantoms ankle-mri --out $(DEMO)/input/ankle_mri --patients 6 --seed 2026 --broken
	$(STACK) $(PY) -m phantoms ankle-xray --out $(DEMO)/input/ankle_xray --patients 6 --seed 2026 --syntax-variants
	$(STACK) $(PY) -m phantoms hip-mri --out $(DEMO)/input/hip_mri --patients 4 --seed 2026
	$(STACK) $(PY) -m apps -i $(DEMO)/input -o $(DEMO)/output -m models
	@echo
	@echo "Demo results (phantom input in $(DEMO)/input; indexed once, each study routed to the apps that read it):"
	@echo "  $(DEMO)/output/results.csv   one row per study and app (no_matching_app: why no app reads it)"
	@echo "  per study: $(DEMO)/output/<app>/<StudyInstanceUID>/ (report_sr.dcm, *_sc.dcm + PNGs,"
	@echo "             segmentation_seg.dcm for onfh_mri, result.json)"
	@echo "  unusable inputs: $(DEMO)/output/failures.csv    run summary: $(DEMO)/output/run.json"
	@echo "  the batch page (open in a browser): $(abspath $(DEMO))/output/index.html"
	@echo "  in OHIF on a local Orthanc: make view"

# A local Orthanc and the DICOM node (python -m apps.node): the phantoms go PACS -> node -> results -> PACS.
pacs-demo: models
	$(STACK) $(PY) -m pacs.demo --models models --work build/pacs-demo

lint: install
	$(VENV)/bin/ruff check .

test: install lint
	$(STACK) $(PY) -m pytest -q -m "not package"

# Look at results: OHIF (npm @ohif/app, pinned in viewer/ohif_install.py) on a local Debian Orthanc.
# make view [OUT=run folder, or a folder of them] [IN=their input folder]; Ctrl-C stops both servers.
OUT ?= $(DEMO)/output
IN ?= $(if $(filter $(DEMO)/output,$(OUT)),$(DEMO)/input)
OHIF_DIR ?= build/ohif

ohif: install
	$(PY) -m viewer --install-only --ohif $(OHIF_DIR)

view: ohif
	$(STACK) $(PY) -m viewer $(OUT) $(if $(IN),-i $(IN)) --ohif $(OHIF_DIR) --workdir build/view

# The browser tests on the demo run: index.html and OHIF in headless Debian Chromium; screenshots kept.
view-test: ohif demo
	rm -rf build/view-test
	$(STACK) MSK_VIEW_RUN=$(DEMO) MSK_VIEW_SCREENSHOTS=build/view-test $(PY) -m pytest -q tests/viewer
	@echo "Screenshots: $(abspath build/view-test)/"

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
