# The course on a local JupyterHub, for instructors who run the semester there (docs/instructor_hub.md).
#   make hub-deps  the hub's proxy (configurable-http-proxy, npm) into .hub/, and sudo (the instructor's grading command)
#   make hub       as root: make the course's Unix users, their runtime and nbgrader's exchange, then run the hub
#                  on http://127.0.0.1:8000 until Ctrl-C (HUB_PORT=... for another port)
#   make test-hub  the whole semester through the hub (tests/test_hub.py; as root)
HUB_PROXY_VERSION := 5.3.0
HUB_PROXY := .hub/node_modules/.bin/configurable-http-proxy
HUB_PORT ?= 8000

.PHONY: hub-deps hub test-hub

hub-deps: ## install the hub's proxy (npm) into .hub/, and sudo
	@if [ -x $(HUB_PROXY) ] && [ "$$($(HUB_PROXY) --version 2>/dev/null)" = "$(HUB_PROXY_VERSION)" ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
		echo "installing configurable-http-proxy $(HUB_PROXY_VERSION) (the hub's proxy) into .hub/"; \
		npm install --prefix .hub --no-audit --no-fund --loglevel=error configurable-http-proxy@$(HUB_PROXY_VERSION) >/dev/null \
			|| echo "warning: npm could not install configurable-http-proxy; make hub and its test need it" >&2; \
	else \
		echo "note: npm not found: the local JupyterHub (make hub, make test-hub) needs its proxy from npm (Debian: apt-get install npm)" >&2; \
	fi
	@if ! command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing sudo (the hub instructor's grading command)"; \
		apt-get install -y -qq sudo >/dev/null 2>&1 || \
			{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq sudo >/dev/null 2>&1; } || \
			echo "warning: could not install sudo; the hub's instructor will not be able to autograde" >&2; \
	fi

hub: $(STAMP) sandbox hub-deps ## as root: run the course's JupyterHub on 127.0.0.1:8000 (HUB_PORT=...) until Ctrl-C
	GENLIB_HUB_PORT=$(HUB_PORT) $(PY) -m tools.hub.serve

test-hub: $(STAMP) sandbox hub-deps ## as root: drive a whole semester through the hub (tests/test_hub.py)
	$(PY) -m pytest -m hub tests/test_hub.py $(PYTEST_ARGS)

TEST_DEPS += hub-deps
