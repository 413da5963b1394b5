"""The web page in a real browser (headless Chromium) against the real service: a logo converted
with progress, the SVG and the report shown and downloadable; a bad file and a wrong key show the
server's own message. TRACEWISE_SCREENSHOT=path saves the page after a conversion (the README's)."""

from __future__ import annotations

import os

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.support.browser import chromium, console_errors

from .conftest import KEY

pytestmark = pytest.mark.e2e
WATCH_STATUS = """
window.seen = [];
new MutationObserver(() => window.seen.push(document.getElementById('status').textContent))
  .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true});
"""
FETCH_DOWNLOAD = """
const done = arguments[arguments.length - 1];
fetch(document.getElementById('download').href).then(r => r.text()).then(done, e => done('ERR ' + e));
"""


@pytest.fixture(scope="module")
def browser():
    with chromium(height=1400) as driver:
        yield driver


def open_page(browser, stack, key=KEY):
    browser.get(stack.http + "/")
    key_field = browser.find_element(By.ID, "api_key")
    assert key_field.is_displayed(), "the service has keys: the page asks for one"
    key_field.clear()
    key_field.send_keys(key)
    browser.execute_script(WATCH_STATUS)


def wait(browser, element_id, seconds=90):
    return WebDriverWait(browser, seconds).until(EC.visibility_of_element_located((By.ID, element_id)))


def test_a_logo_converted_in_the_browser(browser, stack, dev_logos):
    logo = next(lg for lg in dev_logos if lg.category == "gradient")
    open_page(browser, stack)
    browser.find_element(By.ID, "file").send_keys(str(logo.png))
    Select(browser.find_element(By.ID, "method")).select_by_value("search")
    browser.find_element(By.ID, "budget_seconds").send_keys("1.5")
    browser.find_element(By.ID, "go").send_keys(Keys.ENTER)  # the keyboard submits the form
    wait(browser, "result")
    report = browser.find_element(By.ID, "report").text
    assert "SSIM" in report and "VTracer's defaults" in report and "Request id" in report
    assert report.splitlines()[1] == "search"
    seen = browser.execute_script("return window.seen")
    assert any("best score so far" in s for s in seen), f"no progress shown: {seen}"
    svg = browser.execute_async_script(FETCH_DOWNLOAD)
    assert svg.startswith("<svg") and f"{len(svg.encode())} bytes" in report
    shown = browser.execute_script(
        "const i = document.getElementById('svg'); return [i.naturalWidth, i.width]"
    )
    assert shown[0] > 0 and shown[1] > 0, "the browser rendered the SVG"
    name = browser.find_element(By.ID, "download").get_attribute("download")
    assert name == logo.png.stem + ".svg"
    # the zoom scales both pictures alike
    browser.find_element(By.ID, "actual").click()
    widths = browser.execute_script(
        "return ['original', 'svg'].map(id => document.getElementById(id).getBoundingClientRect().width)"
    )
    assert widths[0] == pytest.approx(widths[1], abs=1) and widths[0] == pytest.approx(shown[0], abs=1)
    assert console_errors(browser) == []  # no script error, no CSP violation
    if os.environ.get("TRACEWISE_SCREENSHOT"):
        browser.find_element(By.ID, "fit").click()
        browser.save_screenshot(os.environ["TRACEWISE_SCREENSHOT"])


def test_a_bad_file_shows_the_servers_message(browser, stack, tmp_path):
    bad = tmp_path / "not-a-logo.png"
    bad.write_bytes(b"this is text, not a PNG")
    open_page(browser, stack)
    browser.find_element(By.ID, "file").send_keys(str(bad))
    browser.find_element(By.ID, "go").click()
    error = wait(browser, "error", 60)
    assert "INVALID_IMAGE" in error.text and "request" in error.text
    assert "image:" in error.text  # the field violation, as the server sent it
    assert not browser.find_element(By.ID, "result").is_displayed()


def test_a_wrong_key_is_said_and_the_key_field_focused(browser, stack, wordmark_png, tmp_path):
    logo = tmp_path / "wordmark.png"
    logo.write_bytes(wordmark_png)
    open_page(browser, stack, key="wrong")
    browser.find_element(By.ID, "file").send_keys(str(logo))
    browser.find_element(By.ID, "go").click()
    error = wait(browser, "error", 60)
    assert "UNAUTHENTICATED" in error.text
    assert browser.switch_to.active_element.get_attribute("id") == "api_key"


def test_every_control_has_a_label(browser, stack):
    browser.get(stack.http + "/")
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input, select')]"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id)"
    )
    assert unlabelled == []
