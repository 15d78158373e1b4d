"""The agent console in Chromium, on the demo's data: how fast it feels.

Two figures, each measured inside the page with ``performance.now()`` (one
clock, no Playwright round trips in the figure):

- **lookup to rendered**: from submitting a phone number in the search box
  to the frame after the profile and the first timeline page are in the
  page (its one ``getCustomerOverview`` read included). Goal: p95 under 1 s.
- **publish to shown**: with the console open on a customer, from posting
  an event for them to ``POST /v1/events`` (from the page, with a publish
  key) to the frame after it appears on the timeline: the edge, the log,
  the resolver, the timeline projection and the live stream. Goal: under 2 s.

The data is the README's demo (``touchline demo``, 3,000 customers by
default) in a fresh directory, served by ``touchline api`` in a process of
its own with its processors, as a person runs it after ``./dev demo``.
The phones are typed as the phone system prints them, chosen at random
(seeded per run); a few lookups first warm the server and are not counted.
Each run is a fresh browser tab; the figures are the medians of the runs'
p50 and p95. The browser is Debian's ``/usr/bin/chromium``, never a
downloaded one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import statistics
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from bench.api_ingest import _free_port, _wait_ready
from touchline import registry
from touchline.bootstrap import make_codec
from touchline.config import Settings, load_settings
from touchline.demo import run_demo
from touchline.events import Identities, new_event
from touchline.events.web import PageViewed
from touchline.logs import configure_logging
from touchline.simulate import Person, simulate_day
from touchline.store.api_keys import ApiKeys
from touchline.store.engine import make_engine

CHROMIUM = os.environ.get("TOUCHLINE_CHROMIUM", "/usr/bin/chromium")
DAY = date(2026, 11, 20)
SEED = 7
WARM_UP = 3
VIEWPORT: ViewportSize = {"width": 1366, "height": 860}
SERVE = "import sys; from touchline.cli import main; sys.exit(main())"

# Each measurement waits in the page for the console's own signal that it
# has drawn (console:shown, console:entry), then for the next frame; a
# deadline turns a lookup or an event that never shows into an error.
LOOKUP = """async (asked) => {
  const shown = new Promise((resolve, reject) => {
    document.addEventListener("console:shown", resolve, { once: true });
    setTimeout(() => reject(new Error(`${asked} was not shown`)), 30000);
  });
  const started = performance.now();
  document.getElementById("q").value = asked;
  document.getElementById("find").requestSubmit();
  await shown;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  return performance.now() - started;
}"""
PUBLISH = """async ([body, id, key]) => {
  const shown = new Promise((resolve, reject) => {
    const seen = (event) => {
      if (event.detail.event_id !== id) return;
      document.removeEventListener("console:entry", seen);
      resolve();
    };
    document.addEventListener("console:entry", seen);
    setTimeout(() => reject(new Error(`event ${id} was not shown`)), 30000);
  });
  const started = performance.now();
  const answer = await fetch("/v1/events", {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body,
  });
  if (answer.status !== 202) throw new Error(`the publish was answered ${answer.status}`);
  await shown;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  return performance.now() - started;
}"""


def main(
    runs: int, customers: int, lookups: int, publishes: int, screenshot: Path | None
) -> list[str]:
    if not Path(CHROMIUM).exists():
        raise SystemExit(
            f"the console bench needs Chromium at {CHROMIUM} (apt-get install chromium)"
        )
    configure_logging(level=logging.WARNING)
    with TemporaryDirectory() as scratch:
        settings = load_settings({}, data_dir=scratch, wire_format="json")
        with contextlib.redirect_stdout(io.StringIO()):
            run_demo(settings, customers=customers, seed=SEED, day=DAY.isoformat())
        people, _ = simulate_day(DAY, customers, SEED)
        agent, publisher = _keys(settings)
        with _api(scratch) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                found, shown = [], []
                for run in range(runs):
                    page = _signed_in(browser, base, agent)
                    found.append(_lookups(page, people, lookups, random.Random(run)))
                    shown.append(_publishes(page, settings, people[0], publishes, publisher))
                    page.context.close()
                if screenshot is not None:
                    _screenshot(browser, base, agent, people, screenshot)
                version = browser.version
            finally:
                browser.close()
    lines = [
        f"agent console in Chromium {version} on the demo's data "
        f"({customers:,} customers), {runs} runs:",
        f"  lookup to rendered profile and timeline: {_figures(found)} "
        f"({lookups} lookups a run; goal: p95 under 1 s)",
        f"  publish to shown on an open console:     {_figures(shown)} "
        f"({publishes} events a run; goal: under 2 s)",
    ]
    if screenshot is not None:
        lines.append(f"  screenshot: {screenshot}")
    return lines


def _keys(settings: Settings) -> tuple[str, str]:
    engine = make_engine(settings.store_url(registry.SYSTEM_STORE))
    try:
        keys = ApiKeys(engine)
        agent = keys.create("bench-console", ["agent"]).token
        publisher = keys.create("bench-publisher", ["publish"]).token
    finally:
        engine.dispose()
    return agent, publisher


@contextlib.contextmanager
def _api(data_dir: str) -> Iterator[str]:
    """``touchline api`` on ``data_dir`` with its processors, until the block ends."""
    port = _free_port()
    root = Path(__file__).resolve().parents[1]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
    with (Path(data_dir) / "api.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, "--data-dir", data_dir, "api", "--port", str(port)],
            env={**environment, "PYTHONPATH": str(root)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, server)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=60)


def _signed_in(browser: Browser, base: str, key: str) -> Page:
    page = browser.new_context(viewport=VIEWPORT, locale="en-US").new_page()
    page.goto(f"{base}/console")
    page.get_by_label("API key").fill(key)
    page.get_by_label("Your agent id").fill("bench")
    page.get_by_role("button", name="Sign in").click()
    return page


def _lookups(page: Page, people: list[Person], count: int, rng: random.Random) -> list[float]:
    chosen = rng.sample(people, WARM_UP + count)
    for person in chosen[:WARM_UP]:
        page.evaluate(LOOKUP, person.phone)
    return [float(page.evaluate(LOOKUP, person.phone)) for person in chosen[WARM_UP:]]


def _publishes(page: Page, settings: Settings, person: Person, count: int, key: str) -> list[float]:
    """Events for ``person`` published while the console shows them, live."""
    page.evaluate(LOOKUP, person.phone)
    page.wait_for_selector("#live[data-live=on]")
    codec = make_codec(settings)
    took = []
    for i in range(count):
        viewed = PageViewed(url=f"https://shop.example.com/bench/{i}", title="Bench")
        sent = new_event(
            viewed,
            occurred_at=datetime.now(UTC),
            source="bench",
            identities=Identities(phone=person.phone),
        )
        body = codec.encode(sent).decode()
        took.append(float(page.evaluate(PUBLISH, [body, str(sent.id), key])))
    return took


def _screenshot(browser: Browser, base: str, key: str, people: list[Person], path: Path) -> None:
    """The console on the first demo customer with an offer to make and a
    long enough story, at laptop size: the README's picture."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for person in people:
            seen = client.get("/v1/customer-overview", params={"q": person.phone}).json()
            if seen["offers"]["offers"] and len(seen["timeline"]["entries"]) >= 12:
                break
    page = _signed_in(browser, base, key)
    page.evaluate(LOOKUP, person.phone)
    page.wait_for_selector("#live[data-live=on]")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path)
    page.context.close()


def _figures(runs: list[list[float]]) -> str:
    """The medians over runs of each run's p50 and p95, in ms."""
    p50 = statistics.median(statistics.quantiles(run, n=100)[49] for run in runs)
    p95 = statistics.median(statistics.quantiles(run, n=100)[94] for run in runs)
    return f"p50 {p50:,.0f} ms, p95 {p95:,.0f} ms"
