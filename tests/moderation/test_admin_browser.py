"""Acceptance: an operator moderates in headless Chromium, through nginx, and the API shows the effects.

The screenshots are checked as a person would see them: the admin's own CSS
(served by WhiteNoise) colours the header, and the success message is shown.
"""

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser import SCALE, chromium
from tests.conftest import Stack
from tests.moderation.conftest import PASSWORD
from tests.photos.images import jpeg
from tests.v1 import Account, error

HEADER_BG = (0x41, 0x76, 0x90)  # the admin's --header-bg (light and dark themes alike)
SUCCESS_BG = {(0xDD, 0xFF, 0xDD), (0x00, 0x6B, 0x1B)}  # --message-success-bg, light and dark


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(profile=tmp_path / "chromium-profile") as driver:
        yield driver


def pixel(shot: Image.Image, x: float, y: float) -> tuple[int, int, int]:
    """Return the colour at CSS pixel (x, y) of a screenshot."""
    r, g, b = shot.getpixel((int(x * SCALE), int(y * SCALE)))[:3]  # type: ignore[index]
    return int(r), int(g), int(b)


def wait_for_text(browser: WebDriver, text: str) -> None:
    """Wait until the page a click led to shows `text`."""
    WebDriverWait(browser, 20).until(lambda driver: text in driver.page_source)


def check_screenshot(browser: WebDriver, path: Path, *, message: str) -> None:
    """Photograph the page; check the header has the admin's colour and the success message is shown."""
    browser.save_screenshot(str(path))
    shot = Image.open(io.BytesIO(path.read_bytes())).convert("RGB")
    header = browser.find_element(By.ID, "header").rect
    assert pixel(shot, header["x"] + 5, header["y"] + 5) == HEADER_BG
    success = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success")
    assert message in success.text
    box = success.rect
    assert pixel(shot, box["x"] + box["width"] - 5, box["y"] + 5) in SUCCESS_BG


def test_an_operator_removes_a_photo_and_deactivates_the_account(
    healthy_stack: Stack,
    signup: Any,
    operator: Account,
    browser: WebDriver,
    http: requests.Session,
    tmp_path: Path,
) -> None:
    target, viewer = signup("spammer"), signup("viewer")
    kept = target.post_photo(jpeg(200, 200), caption="Lantern")
    spam = target.post_photo(jpeg(200, 200), caption="Meadow spam")
    spam_id = spam["id"].partition("_")[0]
    base = healthy_stack.api

    browser.get(f"{base}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(operator.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_text(browser, "Site administration")

    # Search the user, open their photos and comments, remove one.
    browser.get(f"{base}/admin/users/user/")
    search = browser.find_element(By.ID, "searchbar")
    search.send_keys(target.username)
    search.submit()
    wait_for_text(browser, "1 result")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th").text for row in rows] == [target.username]
    rows[0].find_element(By.LINK_TEXT, "photos and comments").click()
    wait_for_text(browser, "Meadow spam")
    browser.find_element(By.CSS_SELECTOR, f"#media-{spam_id} input[type=submit]").click()
    wait_for_text(browser, f"Removed photo {spam_id}.")
    check_screenshot(browser, tmp_path / "removed.png", message=f"Removed photo {spam_id}.")
    assert browser.find_elements(By.ID, f"media-{spam_id}") == []

    # The photo is gone for everyone, its count with it, and its CDN copy.
    assert error(viewer.get(f"media/{spam['id']}")) == (404, "APINotFoundError")
    assert viewer.data(f"users/{target.id}")["counts"]["media"] == 1
    thumbnail = http.get(spam["images"]["thumbnail"]["url"], timeout=10)
    assert thumbnail.status_code in {403, 404}, thumbnail.status_code

    # Deactivate through the changelist's action.
    browser.get(f"{base}/admin/users/user/?q={target.username}")
    browser.find_element(By.CSS_SELECTOR, f"input[name=_selected_action][value='{target.id}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("deactivate")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait_for_text(browser, "Deactivated 1 account(s)")
    check_screenshot(
        browser, tmp_path / "deactivated.png", message=f"Deactivated 1 account(s): {target.username}."
    )

    # Their token stops working and their profile and photos leave the API.
    assert error(target.get("users/self")) == (400, "OAuthAccessTokenException")
    assert error(viewer.get(f"users/{target.id}")) == (404, "APINotFoundError")
    assert error(viewer.get(f"media/{kept['id']}")) == (404, "APINotFoundError")
    assert target.username not in [u["username"] for u in viewer.data("users/search", q=target.username)]
