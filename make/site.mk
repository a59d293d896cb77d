# The course as a website and as slides, built offline.
#   make site     execute the lectures (two at a time, reusing artifacts/executed/ copies newer than
#                 their lecture), build the website with Jupyter Book 1 into site/ (git-ignored)
#   make slides   static reveal.js slides of every lecture into site/slides/ (reveal.js from npm)
#   make slides-metadata   write the slide metadata of tools/slides.py's rule into every lecture
#   make test-site         the site's and the slideshow's browser tests (tests/test_site.py, tests/test_slides.py)
# Serve the site with any static file server, e.g. `python3 -m http.server -d site 8000`.

JOBS ?= 2

.PHONY: site slides slides-metadata test-site

site: $(STAMP) ## execute the lectures and build the course website into site/ (offline; JOBS=2)
	$(PY) -m tools.site --jobs $(JOBS)

slides: $(STAMP) ## static reveal.js slides of every lecture into site/slides/ (after make site)
	@test -d artifacts/executed || $(PY) -m tools.site --execute --jobs $(JOBS)
	$(PY) -m tools.slides --html

slides-metadata: $(STAMP) ## write the slide metadata (tools/slides.py's rule) into every lecture
	$(PY) -m tools.slides lectures/*.ipynb

test-site: $(STAMP) browser-deps ## run the website's and the slideshow's browser tests
	$(PY) -m pytest -m browser tests/test_site.py tests/test_slides.py $(PYTEST_ARGS)
