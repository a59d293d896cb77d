# The course's commands. Everything runs inside .venv, created on first use.
#   make lab     set up, then open JupyterLab on the course (make lab ARGS=--no-browser)
#   make test    set up, then run the whole test suite
#   make release regenerate exercises/ from solutions/ with nbgrader
#   make grade   autograde every submission in grading/submitted, print and save a score table
#   make bench   time every notebook and the autograder, run the units' quality benchmarks;
#                write genlib/tables/results.json (ONLY="unit02_gans notebooks" runs some sections)
#   make weights rebuild the small weights in weights/ (tools/weights_*.py; ONLY=name for one)

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

.PHONY: setup sandbox lab test release grade bench weights lock clean

# Parts with their own file under make/: the local JupyterHub semester (make/hub.mk) and the
# browser tests (make/browser.mk). Each may add to TEST_DEPS the system packages its tests need
# (installed best-effort, as root on Debian, like the sandbox below).
TEST_DEPS :=
-include make/*.mk

setup: $(STAMP) sandbox

# make grade runs every student kernel inside bubblewrap (tools/sandbox.py). As root on Debian
# or Ubuntu, install it when missing; elsewhere say what grading will need.
sandbox:
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

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) $(ROOT_FLAG) $(ARGS)

test: $(STAMP) sandbox $(TEST_DEPS)
	$(PY) -m pytest $(PYTEST_ARGS)

release: $(STAMP)
	$(PY) -m tools.release $(UNITS)

grade: $(STAMP) sandbox
	$(PY) -m tools.grade $(ARGS)

bench: $(STAMP)
	$(PY) bench/run.py $(ONLY)

weights: $(STAMP)
	$(PY) -m tools.weights $(ONLY)

# Re-measure the lock file in a scratch environment (needs the package index).
lock:
	rm -rf /tmp/genlib-lock && $(PYTHON) -m venv /tmp/genlib-lock
	/tmp/genlib-lock/bin/pip install --quiet $(TORCH_PIP_ARGS) torch==2.13.0 && /tmp/genlib-lock/bin/pip install --quiet -e '.[course,test]'
	{ sed -n '1,3p' requirements/constraints.txt; /tmp/genlib-lock/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' | sort -f; } > requirements/constraints.new && mv requirements/constraints.new requirements/constraints.txt

clean:
	rm -rf grading .pytest_cache .hypothesis
