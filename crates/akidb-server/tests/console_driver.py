"""Drives the web console in a real headless Chromium (Selenium + Debian's chromedriver).

Run by tests/console.rs against a real `akidb` holding a collection `docs` (dimension 4,
40 points, payload {"section": "faq"|"library", "n": i}). Environment: AKIDB_URL, AKIDB_KEY,
AKIDB_PID (killed at the end to see the "server down" message), SCREENSHOT_DIR.
Prints one JSON line of measurements; any failed check raises (non-zero exit).
"""

import gzip
import json
import os
import signal
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["AKIDB_URL"]
KEY = os.environ["AKIDB_KEY"]
SHOTS = os.environ["SCREENSHOT_DIR"]
os.makedirs(SHOTS, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
            "--disable-gpu", "--no-first-run", "--disable-extensions"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")),
                          options=options)
# A view re-renders its table while a wait reads it: a stale element just means "look again".
wait = WebDriverWait(driver, 15, ignored_exceptions=(StaleElementReferenceException,))


def shot(name: str) -> None:
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def text_of(css: str) -> str:
    return wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css))).text


def wait_text(css: str, needle: str) -> str:
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), needle))
    return driver.find_element(By.CSS_SELECTOR, css).text


def set_key(key: str) -> None:
    box = driver.find_element(By.ID, "key-input")
    box.clear()
    box.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()


def click_row_button(table: str, name: str, label: str) -> None:
    row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'#{table} tr[data-name="{name}"]')))
    [b for b in row.find_elements(By.TAG_NAME, "button") if b.text == label][0].click()


try:
    measured = {}
    # Assets: size on the wire if gzipped (the budget is 300 KB).
    total_gz = 0
    for path in ("/console/", "/console/app.js", "/console/style.css"):
        with urllib.request.urlopen(URL + path) as resp:
            assert resp.status == 200, path
            total_gz += len(gzip.compress(resp.read(), 9))
    measured["assets_gzip_bytes"] = total_gz
    assert total_gz <= 300 * 1024, total_gz

    # No key yet: the page says what to do.
    driver.get(URL + "/console")
    msg = wait_text("#banner", "API key")
    assert "Wrong or missing API key" in msg, msg
    shot("no-key")
    # A wrong key is refused the same way.
    set_key("not-the-key")
    wait_text("#page-error", "Wrong or missing API key")

    # The right key: the collection is listed with its points, tier and status.
    set_key(KEY)
    row = wait_text('#collections tr[data-name="docs"]', "docs")
    assert "40" in row and "hot" in row and "green" in row, row
    shot("collections")
    # First paint of the collections page (key already in session storage), fresh load:
    # leave the page first, since a change of the fragment alone would not reload it.
    driver.get("about:blank")
    driver.get(URL + "/console/#/collections")
    text_of("#collections")
    timing = driver.execute_script(
        "const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');"
        "const n = performance.getEntriesByType('navigation')[0];"
        "const r = performance.getEntriesByName('akidb:view-rendered')[0];"
        "return {fcp: p ? p.startTime : null, rendered: r ? r.startTime : null};")
    assert timing["rendered"] is not None, timing
    measured["first_contentful_paint_ms"] = round(timing["fcp"], 1) if timing["fcp"] else None
    # From navigation start to the collections table drawn with its data.
    measured["collections_rendered_ms"] = round(timing["rendered"], 1)

    # One collection: browse points, search by id, then with a filter.
    driver.find_element(By.LINK_TEXT, "docs").click()
    points = text_of("#point-list")
    assert "faq" in points or "library" in points, points
    driver.find_element(By.NAME, "id").send_keys("7")
    driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    hits = text_of("#hits")
    first = driver.find_elements(By.CSS_SELECTOR, "#hits tbody tr")[0].text
    assert first.startswith("7 ") and "1.0000" in first, first
    assert len(driver.find_elements(By.CSS_SELECTOR, "#hits tbody tr")) == 10, hits
    flt = driver.find_element(By.NAME, "filter")
    flt.send_keys('{"must":[{"key":"section","match":{"value":"faq"}}]}')
    driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait.until(lambda d: all("faq" in r.text for r in d.find_elements(By.CSS_SELECTOR, "#hits tbody tr"))
               and "library" not in d.find_element(By.ID, "hits").text)
    shot("collection")
    # Bad filter JSON: a clear message, no request sent.
    flt.clear()
    flt.send_keys("{not json")
    driver.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    wait_text("#banner", "filter is not valid JSON")

    # Tiers: demote to warm, then promote back; the badge follows.
    driver.get(URL + "/console/#/tiers")
    click_row_button("tiers", "docs", "To warm")
    wait_text("#banner", "docs is warm")
    wait_text('#tiers tr[data-name="docs"] .tier', "warm")
    shot("tiers-warm")
    click_row_button("tiers", "docs", "Promote")
    wait_text("#banner", "docs is hot")
    wait_text('#tiers tr[data-name="docs"] .tier', "hot")
    shot("tiers")

    # Snapshots: take one, it is listed.
    driver.get(URL + "/console/#/snapshots/docs")
    wait_text("h1", "Snapshots")
    driver.find_element(By.ID, "take").click()
    wait_text("#banner", "taken (40 rows)")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#snapshots tbody tr")) >= 1
    shot("snapshots")

    # Dead letters: nothing failed, so the empty state.
    driver.get(URL + "/console/#/dlq")
    wait_text("#dlq-empty", "queue is empty")
    shot("dlq")

    # Live: a request rate appears after two scrapes.
    driver.get(URL + "/console/#/live")
    wait.until(lambda d: d.find_element(By.ID, "rate").text not in ("", "…"))
    float(driver.find_element(By.ID, "rate").text)
    shot("live")

    # A collection that does not exist.
    driver.get(URL + "/console/#/collection/nope")
    wait_text("#page-error", "Collection not found")

    # The server goes away while the page is open: the next view says so instead of hanging.
    os.kill(int(os.environ["AKIDB_PID"]), signal.SIGKILL)
    time.sleep(0.3)
    driver.find_element(By.CSS_SELECTOR, 'nav a[data-page="collections"]').click()
    wait_text("#page-error", "Server down")
    shot("server-down")
    print(json.dumps(measured))
except Exception:
    shot("failure")
    raise
finally:
    driver.quit()
