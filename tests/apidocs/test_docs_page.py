"""GET /v1/docs through nginx: Redoc from our own static files, rendering /v1/openapi.json in Chromium."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from instagram.openapi import openapi_spec
from tests.browser import chromium
from tests.conftest import Stack


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(profile=tmp_path / "chromium-profile") as driver:
        yield driver


def test_the_docs_page_and_its_script_are_ours(healthy_stack: Stack, http: requests.Session) -> None:
    page = http.get(f"{healthy_stack.api}/v1/docs", timeout=10)
    assert (page.status_code, page.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert 'spec-url="/v1/openapi.json"' in page.text
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page.text)
    assert scripts
    assert all(src.startswith("/static/") for src in scripts), scripts
    for src in scripts:
        script = http.get(f"{healthy_stack.api}{src}", timeout=10)
        assert script.status_code == 200
        assert "javascript" in script.headers["Content-Type"]


def test_the_docs_page_renders_the_description_in_chromium(healthy_stack: Stack, browser: WebDriver) -> None:
    summary = openapi_spec()["paths"]["/v1/media/{media_ref}/report"]["post"]["summary"]
    browser.get(f"{healthy_stack.api}/v1/docs")
    WebDriverWait(browser, 60).until(lambda driver: summary in driver.page_source)
    title = openapi_spec()["info"]["title"]
    assert title in browser.find_element("tag name", "h1").text
