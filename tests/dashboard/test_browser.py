"""End to end: `wirelane-sync dashboard` as a process, opened in headless Chromium (Debian's
chromium and chromedriver, installed by scripts/ensure_chromium.sh). The test picks an
organization in the sidebar as a user would, reads the figures the page shows and compares
them with SQL over the marts, and saves a screenshot of the filtered page in its temporary
directory; with UPDATE_SCREENSHOT=1 also as docs/dashboard.png, the one the README shows.

Selenium talks to chromedriver over WebDriver, so it drives whatever Chromium the machine has;
Playwright would want the browser build its own release pins.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.dashboard.conftest import Warehouse

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"

pytestmark = [
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="no chromium/chromedriver: run scripts/ensure_chromium.sh",
    ),
    pytest.mark.slow,  # its warehouse is loaded and built first
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def dashboard(warehouse: Warehouse, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **warehouse.env, "HOME": str(tmp_path)}  # Streamlit's ~/.streamlit stays out of the way
    output = tmp_path / "dashboard.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "dashboard", "--port", str(port)],
            cwd=warehouse.root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, output.read_text()
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        pytest.fail("the dashboard did not start within 60 s")
    yield url
    process.terminate()  # the command passes SIGTERM on to Streamlit and waits for it
    assert process.wait(timeout=30) == 130, output.read_text()
    assert "dashboard stopped by SIGTERM" in output.read_text()
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.get(f"{url}/_stcore/health", timeout=2)  # Streamlit is gone too


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium'}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def wait_for(condition: Callable[[], object], what: str, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # noqa: S110 (the page re-renders under us: try again)
            pass
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def metrics(driver: WebDriver) -> dict[str, str]:
    shown: dict[str, str] = {}
    for metric in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        label = metric.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip()
        shown[label] = metric.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
    return shown


def idle(driver: WebDriver) -> bool:
    """No script run in progress (Streamlit shows its status widget while rerunning)."""
    return not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')


def expected(warehouse: Warehouse, organization: str | None) -> dict[str, str]:
    where, params = ("where organization_id = ?", [organization]) if organization else ("", [])
    [(net, vat, gross, energy)] = warehouse.query(
        "select sum(revenue_net), sum(revenue_vat), sum(revenue_gross), sum(energy_kwh) "
        f"from marts.mart_revenue_monthly {where}",
        params,
    )
    [(sessions, successful)] = warehouse.query(
        f"select sum(sessions), sum(successful_sessions) from marts.mart_sessions_daily {where}", params
    )
    return {
        "Net revenue": f"{Decimal(net):,.2f} EUR",
        "VAT": f"{Decimal(vat):,.2f} EUR",
        "Gross revenue": f"{Decimal(gross):,.2f} EUR",
        "Billed energy": f"{Decimal(energy):,.2f} kWh",
        "Sessions": f"{sessions:,}",
        "Success rate": f"{successful / sessions * 100:.1f} %",
    }


def shows(driver: WebDriver, figures: dict[str, str]) -> bool:
    shown = metrics(driver)
    return idle(driver) and all(shown.get(label) == value for label, value in figures.items())


def test_dashboard_in_chromium(warehouse: Warehouse, dashboard: str, browser: WebDriver, tmp_path: Path) -> None:
    browser.get(dashboard)
    everything = expected(warehouse, None)
    wait_for(lambda: shows(browser, everything), "the unfiltered figures")

    [(organization,)] = warehouse.query(
        "select organization_id from marts.mart_revenue_monthly group by 1 order by sum(revenue_net) desc limit 1"
    )
    picker = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"] [data-testid="stMultiSelect"] input')
    picker.click()
    picker.send_keys(organization)
    picker.send_keys(Keys.ENTER)
    picker.send_keys(Keys.ESCAPE)
    filtered = expected(warehouse, organization)
    assert filtered["Net revenue"] != everything["Net revenue"]
    try:
        wait_for(lambda: shows(browser, filtered), f"the figures of {organization}")
    except BaseException:
        browser.save_screenshot(str(tmp_path / "failed.png"))  # what the page showed instead
        raise
    assert {label: metrics(browser)[label] for label in filtered} == filtered
    # a full-page picture of the filtered page for the README
    height = browser.execute_script(
        "return document.querySelector('[data-testid=\"stMain\"]').scrollHeight"  # the page scrolls inside stMain
    )
    browser.set_window_size(1400, min(int(height) + 120, 6000))
    wait_for(lambda: idle(browser) and browser.find_elements(By.CSS_SELECTOR, "canvas, svg.marks"), "the charts")
    time.sleep(1.5)  # the charts' entry transitions
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
    if os.environ.get("UPDATE_SCREENSHOT") == "1":  # otherwise every run would rewrite a committed file
        shutil.copyfile(shot, SCREENSHOT)
