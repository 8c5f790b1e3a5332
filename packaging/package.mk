# MAP packaging targets; included by the top-level Makefile (uses its PY, STACK, VENV and `models`).
# MAP_MODELS: models folder to package (default models/); MAP_FLAGS: extra builder flags (e.g. --gpu, --apps olt_mri).
MAP_MODELS ?= models
MAP_FLAGS ?=
MAP_TOOLS := buildah podman runc debootstrap skopeo jq

.PHONY: package package-test package-tools

# Debian's container tools (root, no Docker daemon needed) and jq (the package test reads app.json#command the
# way holoscan-cli's tools do); installed only when missing.
package-tools:
	@missing=""; for t in $(MAP_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman runc debootstrap skopeo umoci jq; fi

# `models` only when packaging the repo's own models folder (MAP_MODELS may point at models built elsewhere).
package: $(VENV)/.installed $(if $(filter models models/,$(MAP_MODELS)),models) package-tools
	@start=$$(date +%s); \
	$(STACK) $(PY) packaging/build_map.py --models-dir $(MAP_MODELS) $(MAP_FLAGS); \
	echo "make package: $$(( $$(date +%s) - start )) s"

package-test: $(VENV)/.installed $(if $(filter models models/,$(MAP_MODELS)),models) package-tools
	@start=$$(date +%s); \
	$(STACK) MAP_MODELS=$(MAP_MODELS) MAP_TEST_BUILD=1 $(PY) -m pytest -q -m package -rs tests/packaging; \
	echo "make package-test: $$(( $$(date +%s) - start )) s"
