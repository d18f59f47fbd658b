"""Acceptance: the whole server-side flow in headless Chromium, through the real /oauth/authorize page.

A tiny HTTP server on loopback stands in for the third-party app's
callback. The consent page is photographed and read back by OCR (Debian's
tesseract), so the test checks what a person would see, not only the DOM.
"""

import http.server
import queue
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from oauth2_provider.models import AccessToken
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import WORDS, chromium, ocr, png_size
from tests.conftest import Stack
from tests.oauth.conftest import PASSWORD, code_grant, exchange, query_of, register
from users.models import User


class Callback:
    """The third-party app's redirect_uri: records every request path it receives."""

    def __init__(self) -> None:
        self.paths: queue.Queue[str] = queue.Queue()
        paths = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                paths.put(self.path)
                body = b"<!doctype html><title>Sunset Filters</title><p>Thanks!</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"


@pytest.fixture
def callback() -> Iterator[Callback]:
    app = Callback()
    app.thread.start()
    yield app
    app.server.shutdown()
    app.server.server_close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(profile=tmp_path / "chromium-profile") as driver:
        yield driver


def test_authorization_code_flow_in_chromium(
    healthy_stack: Stack, browser: WebDriver, callback: Callback, kevin: User, tmp_path: Path
) -> None:
    tag = " ".join(random.sample(WORDS, 2))
    name = f"Sunset Filters {tag}"
    client = register(name=name, redirect_uri=callback.uri)
    params = {
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "response_type": "code",
        "scope": "likes comments",
        "state": tag,
    }
    wait = WebDriverWait(browser, 20)

    browser.get(f"{healthy_stack.api}/oauth/authorize?{urlencode(params)}")
    wait.until(expected_conditions.visibility_of_element_located((By.ID, "id_username")))
    assert "/oauth/login" in browser.current_url
    browser.find_element(By.ID, "id_username").send_keys(kevin.username)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.ID, "log-in").click()

    app_name = wait.until(expected_conditions.visibility_of_element_located((By.ID, "app-name")))
    assert app_name.text == name
    scopes = browser.find_elements(By.CSS_SELECTOR, "#scopes .scope")
    assert [s.get_attribute("data-scope") for s in scopes] == ["basic", "likes", "comments"]
    assert all(s.is_displayed() for s in scopes)
    assert browser.find_element(By.ID, "approve").is_displayed()
    assert browser.find_element(By.ID, "deny").is_displayed()

    shot = tmp_path / "consent.png"
    assert browser.save_screenshot(str(shot))
    width, height = png_size(shot.read_bytes())
    assert width >= 1000
    assert height >= 800
    seen = ocr(shot)
    for words in (
        f"SUNSET FILTERS {tag.upper()}",
        "BASIC",
        "LIKES",
        "COMMENTS",
        "READ YOUR PROFILE AND MEDIA",
        "POST AND DELETE COMMENTS ON YOUR BEHALF",
    ):
        assert words in seen, (words, seen, shot)

    browser.find_element(By.ID, "approve").click()
    arrived = callback.paths.get(timeout=20)
    answer = query_of(arrived)
    assert arrived.startswith("/callback?")
    assert answer["state"] == tag
    wait.until(lambda driver: driver.current_url.startswith(callback.uri))

    token = exchange(requests.Session(), healthy_stack, **code_grant(client, answer["code"]))
    assert token.status_code == 200, token.text
    raw = token.json()["access_token"]
    me = requests.get(f"{healthy_stack.api}/v1/users/self", params={"access_token": raw}, timeout=10)
    assert me.json()["data"]["username"] == kevin.username
    assert AccessToken.objects.get(token=raw).scope == "basic likes comments"
