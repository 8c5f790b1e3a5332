# Cluster targets; included by the top-level Makefile (uses its PY, STACK and VENV).
.PHONY: cluster-test

# A one-node Slurm on this machine (root; installs slurm-wlm and munge when missing), the app as a 3-part array
# after a shared-index job, compared with one process (tests/cluster). `make test` runs it too.
cluster-test: $(VENV)/.installed
	@start=$$(date +%s); \
	$(STACK) $(PY) -m pytest -q -m cluster -rs tests/cluster; \
	echo "make cluster-test: $$(( $$(date +%s) - start )) s"
