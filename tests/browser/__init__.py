"""Helpers of tests/test_browser.py: JupyterLab driven in headless chromium by Playwright."""
