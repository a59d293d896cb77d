# The course's commands. `make` (or `make help`) lists them: each target's line ends with
# `## what it does`, which the help target prints. Everything runs inside .venv, created on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=
# pip arguments for the torch wheel. On this course's machines `torch==2.13.0` is a CPU
# wheel; on a Linux laptop without a GPU add e.g. TORCH_PIP_ARGS="--index-url <CPU wheel index>".
TORCH_PIP_ARGS ?=
# Jupyter, nbgrader (which runs alembic as a subprocess) and the kernel all come from .venv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help setup sandbox lab test release grade grades regrade bench weights real-experiment lock clean
# A bare `make` lists the commands and installs nothing (make/*.mk's rules come first otherwise).
.DEFAULT_GOAL := help

# Parts with their own file under make/: the local JupyterHub semester (make/hub.mk) and the
# browser tests (make/browser.mk). Each may add to TEST_DEPS the system packages its tests need
# (installed best-effort, as root on Debian, like the sandbox below).
TEST_DEPS :=
-include make/*.mk

# Every target with a `## ...` comment, in the order of the files (this one, then make/*.mk).
help: ## list the commands (what a bare `make` does)
	@echo "The course's commands (make TARGET):"
	@awk -F ':[^#]*## ' '/^[a-zA-Z][a-zA-Z_-]*:[^=]*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) sandbox ## create .venv and install the course (first time only; as root also bubblewrap)

# make grade runs every student kernel inside bubblewrap (tools/sandbox.py). As root on Debian
# or Ubuntu, install it when missing; elsewhere say what grading will need.
sandbox: ## install bubblewrap, the grading sandbox (as root on Debian; else say what is needed)
	@if ! command -v bwrap >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing bubblewrap, the sandbox of make grade"; \
			apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
				{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; } || \
				echo "warning: could not install bubblewrap; make grade will refuse to run unsandboxed" >&2; \
		else \
			echo "note: make grade needs bubblewrap and root (sudo apt-get install bubblewrap)" >&2; \
		fi; \
	fi

# Re-installs only when pyproject.toml or the lock file changed since the last install.
$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) torch==2.13.0
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[course,test]'
	$(PY) -m ipykernel install --sys-prefix --name genlib --display-name "Python 3 (genlib)" >/dev/null
	@if $(PY) -m pip list 2>/dev/null | grep -iE '^nvidia-|^triton ' ; then \
		echo "error: CUDA packages were installed (see above); the course needs the CPU build of torch 2.13.0." >&2; exit 1; fi
	@$(PY) -c "import torch, genlib; print('genlib', genlib.__version__, '| torch', torch.__version__, '| ready')"
	@touch $(STAMP)

# The lab's defaults in .venv (overrides.json, written once): no prompt to fetch Jupyter news, no update check.
lab: $(STAMP) ## set up, then open JupyterLab on the course (ARGS=--no-browser on a server)
	@d=$(VENV)/share/jupyter/lab/settings; test -s $$d/overrides.json || { mkdir -p $$d && echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $$d/overrides.json; }
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) $(ROOT_FLAG) $(ARGS)

test: $(STAMP) sandbox $(TEST_DEPS) ## set up, then run the whole test suite (PYTEST_ARGS=... to narrow it)
	$(PY) -m pytest $(PYTEST_ARGS)

release: $(STAMP) ## regenerate exercises/ from solutions/ with nbgrader (UNITS=02_gans for some)
	$(PY) -m tools.release $(UNITS)

grade: $(STAMP) sandbox ## autograde grading/submitted/*, print the score table (warnings: grading/grade.log)
	@$(PY) -m tools.grade $(ARGS)

grades: $(STAMP) ## export the gradebook for Canvas and Moodle: grading/lms/*.csv (ARGS="--missing zero")
	@$(PY) -m tools.gradebook_export $(ARGS)

# After a test cell (or its points) was fixed in solutions/UNIT once students have submitted.
regrade: $(STAMP) sandbox ## after fixing a test in solutions/: re-release UNIT=..., regrade it, log old+new scores
	@test -n "$(UNIT)" || { echo "usage: make regrade UNIT=<unit>, e.g. UNIT=01_vae_recap" >&2; exit 2; }
	@$(PY) -m tools.regrade $(UNIT) $(ARGS)

bench: $(STAMP) ## time notebooks and grading, run the units' benchmarks (ONLY=unit02_gans for one)
	$(PY) bench/run.py $(ONLY)

weights: $(STAMP) ## rebuild the small weights in genlib/weights/ (ONLY=name for one)
	$(PY) -m tools.weights $(ONLY)

# Re-measure the lock file in a scratch environment (needs the package index).
real-experiment: $(STAMP) ## unit 07's experiment on your ACDC/M&Ms folder: DATA=... LAYOUT=acdc|mnms|mnms2 (ARGS=--small)
	@test -n "$(DATA)" || { echo "usage: make real-experiment DATA=<folder> LAYOUT=acdc|mnms|mnms2 [ARGS=--small]" >&2; exit 2; }
	@$(PY) -m tools.real_experiment --data "$(DATA)" --layout $(or $(LAYOUT),acdc) $(ARGS)

lock: ## re-measure requirements/constraints.txt in a scratch venv (needs the package index)
	rm -rf /tmp/genlib-lock && $(PYTHON) -m venv /tmp/genlib-lock
	/tmp/genlib-lock/bin/pip install --quiet $(TORCH_PIP_ARGS) torch==2.13.0 && /tmp/genlib-lock/bin/pip install --quiet -e '.[course,test]'
	{ sed -n '1,3p' requirements/constraints.txt; /tmp/genlib-lock/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' | sort -f; } > requirements/constraints.new && mv requirements/constraints.new requirements/constraints.txt

clean: ## remove grading/ and the test caches
	rm -rf grading .pytest_cache .hypothesis
