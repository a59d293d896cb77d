# The course in a real browser (tests/test_browser.py; Playwright drives Debian's
# chromium, headless; no browser download).
#   make browser-deps   install Debian's chromium when it is missing (as root on Debian, best effort)
#   make test-browser   run only the browser tests (each lecture in JupyterLab, widgets, nbgrader pages)
# Without chromium the browser tests are skipped; with GENLIB_REQUIRE_E2E=1 (CI) they fail instead.

BROWSER_BIN := $(or $(GENLIB_CHROMIUM),/usr/bin/chromium)

.PHONY: browser-deps test-browser
TEST_DEPS += browser-deps

# fonts-liberation is only a Recommends of chromium: name it, so that pages render text
# on systems that install without recommended packages.
browser-deps: ## install Debian's chromium for the browser tests (as root, best effort)
	@if [ ! -x "$(BROWSER_BIN)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium and fonts for the browser tests (about a minute)"; \
			apt-get install -y -qq chromium fonts-liberation >/dev/null 2>&1 || \
				{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium fonts-liberation >/dev/null 2>&1; } || \
				echo "warning: could not install chromium; the browser tests will be skipped (they fail when GENLIB_REQUIRE_E2E=1)" >&2; \
		else \
			echo "note: the browser tests need Debian's chromium at $(BROWSER_BIN) (sudo apt-get install chromium);" \
				"without it they are skipped (GENLIB_CHROMIUM=<path> points them at another chromium)" >&2; \
		fi; \
	fi

test-browser: $(STAMP) browser-deps ## run only the browser tests (JupyterLab in headless chromium)
	$(PY) -m pytest -m browser tests/test_browser.py $(PYTEST_ARGS)
