"""Headless Chromium for the web page's tests: Debian's ``chromium`` and ``chromium-driver``
(``make system-tools`` installs them), driven by Selenium. Tests skip, saying why, without them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _binaries() -> tuple[str, str] | None:
    browser = next((p for b in BROWSERS if (p := shutil.which(b))), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextmanager
def chromium(width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium (skips the test when Chromium or its driver is missing)."""
    found = _binaries()
    if found is None:
        pytest.skip(
            "no chromium + chromedriver (Debian packages chromium, chromium-driver: make system-tools)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--lang=en-GB"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The page's console errors (a script error, a CSP violation) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
