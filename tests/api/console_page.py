"""The agent console in Debian's Chromium, headless, driven by Playwright:
the browser, a fresh tab, and what an agent does first (sign in, find the
caller). Shared by the console's browser tests and the end-to-end scenario.

Never ``playwright install``: the browser is the system's
``/usr/bin/chromium`` (``.ci/run`` installs it); tests that need it skip,
saying why, when it is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.conftest import Server

CHROMIUM = os.environ.get("TOUCHLINE_TEST_CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 15_000
"""How long an expect retries before it fails: room for a busy 2-core machine."""

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)",
)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@contextmanager
def fresh_tab(browser: Browser) -> Iterator[Page]:
    """A fresh tab at laptop size, with nothing in its sessionStorage."""
    expect.set_options(timeout=WAIT_MS)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    opened = context.new_page()
    yield opened
    context.close()


def signed_in(api: Server, page: Page) -> None:
    """The console open, signed in with a new agent key as agent ``ag-7``."""
    agent = api.keys.create("contact-centre", ["agent"])
    page.goto(f"{api.client.base_url}/console")
    expect(page.locator("#status")).to_have_text("Sign in with your API key to start.")
    page.get_by_label("API key").fill(agent.token)
    page.get_by_label("Your agent id").fill("ag-7")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).to_contain_text("ag-7")


def found(page: Page, asked: str) -> None:
    """The agent types what the caller gave and presses Enter."""
    page.get_by_role("searchbox", name="Find a customer").fill(asked)
    page.get_by_role("searchbox", name="Find a customer").press("Enter")
