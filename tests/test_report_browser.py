"""The report as a person sees it: rendered by headless Chromium (Playwright driving the system's Chromium, never a
downloaded browser), asserting on what is drawn and visible, with screenshots kept under .lakegate/screenshots/.

History is written with AuditLog directly (tests/test_report_site.py `write_history`). The browser is the Debian
chromium found on PATH (chromium, chromium-browser or google-chrome), launched headless with a fresh profile and
every background network feature off; the page itself must make no request but for its own file.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from lakegate.infra.loader import load_environments
from lakegate.infra.access import access_matrix
from lakegate.reports.diff import environment_diff
from lakegate.reports.screenshot import FLAGS, chromium
from lakegate.reports.site import build_site, write_site

from .test_report_site import SCRIPT, definitions, write_history

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / ".lakegate" / "screenshots"   # .lakegate/ is ignored by git

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium, chromium-browser or google-chrome on PATH")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1440, "height": 900}, service_workers="block")
        try:
            yield context
        finally:
            context.close()


class Watched:
    """A page with its console errors, uncaught exceptions, dialogs and requests recorded."""

    def __init__(self, context):
        self.page = context.new_page()
        self.errors, self.dialogs, self.requests = [], [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, path: Path):
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("html[data-report-ready]" if path.name == "index.html" else "#evidence-status")
        return self.page

    def assert_quiet(self):
        assert self.errors == [] and self.dialogs == []
        assert all(url.startswith(("file:", "data:")) for url in self.requests), self.requests


def shot(page, name: str, full_page: bool = False) -> Path:
    SCREENSHOTS.parent.mkdir(mode=0o700, exist_ok=True)
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-site")
    env_dir = definitions(tmp)
    envs = load_environments(env_dir)
    write_history(tmp / "state", envs)
    document, evidence = build_site(envs, environments_dir=env_dir, state_dir=tmp / "state")
    write_site(document, evidence, tmp / "out")
    return envs, document, tmp / "out" / "index.html"


def visible_rows(page, table: str) -> int:
    return page.locator(f"#{table} tbody tr:visible").count()


def test_the_overview_is_drawn_and_the_access_matrix_filters(browser, site):
    envs, document, index = site
    watched = Watched(browser)
    page = watched.open(index)

    nodes = page.locator("svg#overview-svg g.env-node")
    assert nodes.count() == len(envs)
    for env in envs:
        node = page.locator(f'svg#overview-svg g.env-node[data-env="{env.name}"]')
        box = node.bounding_box()
        assert node.is_visible() and box["width"] > 100 and box["height"] > 40
        assert node.locator("text.name").text_content() == env.name
    edges = page.locator("svg#overview-svg g.promotion-edge")
    assert edges.count() == len(document["promotion_paths"]) == 2
    for index_ in range(edges.count()):
        edge = edges.nth(index_)
        path_box = edge.locator("path").bounding_box()
        assert edge.is_visible() and path_box["width"] > 50
        source = page.locator(f'g.env-node[data-env="{edge.get_attribute("data-from")}"]').bounding_box()
        target = page.locator(f'g.env-node[data-env="{edge.get_attribute("data-to")}"]').bounding_box()
        # The arrow runs from the source's box to the target's (Chromium pads a stroked path's box by its stroke).
        assert abs(path_box["x"] - (source["x"] + source["width"])) < 8 and abs(path_box["x"] + path_box["width"] - target["x"]) < 8
    shot(page, "report-overview.png")

    grants = access_matrix(envs)["grants"]
    assert page.locator("#access-grants tbody tr").count() == len(grants) == visible_rows(page, "access-grants")
    search = page.locator('[data-controls^="access-grants"] input[data-filter="text"]')
    search.fill("sp-lakegate-prod")
    expected = sum(1 for g in grants if g["principal"] == "sp-lakegate-prod")
    assert 0 < visible_rows(page, "access-grants") == expected < len(grants)
    assert all("sp-lakegate-prod" in text for text in page.locator("#access-grants tbody tr:visible").all_inner_texts())
    assert visible_rows(page, "access-roles") == sum(1 for r in access_matrix(envs)["azure_roles"] if r["principal"] == "sp-lakegate-prod")
    search.fill("")
    page.locator('[data-controls^="access-grants"] select[data-filter="kind"]').select_option("derived")
    assert visible_rows(page, "access-grants") == sum(1 for g in grants if g["derived"])
    page.locator('[data-controls^="access-grants"] select[data-filter="env"]').select_option("staging")
    assert visible_rows(page, "access-grants") == sum(1 for g in grants if g["derived"] and g["emitted_by"] == "staging-databricks")
    page.locator("#access").scroll_into_view_if_needed()
    shot(page, "report-access-filtered.png")

    # Any two environments, side by side: the count is reports/diff.py's.
    page.locator("#diff-left").select_option("dev")
    page.locator("#diff-right").select_option("prod")
    count = len(environment_diff(envs["dev"], envs["prod"]))
    assert page.locator("#diff-summary").inner_text() == f"{count} difference(s) between dev and prod"
    assert page.locator("#diff-table").get_attribute("data-matching") == str(count)
    assert visible_rows(page, "diff-table") == min(50, count)
    assert page.locator("#diff-table tbody tr:visible td.changed, #diff-table tbody tr:visible td.absent").count() > 0

    # What people and logs wrote is shown as text, never run (no dialog opened: see assert_quiet).
    assert page.get_by_text(SCRIPT, exact=False).first.is_visible()
    assert page.locator("#audit-status").get_attribute("data-ok") == "true"
    watched.assert_quiet()
    shot(page, "report-full.png", full_page=True)
    page.close()


def test_an_evidence_pack_opens_from_the_history(browser, site):
    _envs, document, index = site
    watched = Watched(browser)
    page = watched.open(index)
    link = page.locator(".production-chain a", has_text="evidence pack")
    link.scroll_into_view_if_needed()
    link.click()
    page.wait_for_selector("#evidence-status")
    assert page.locator("#evidence-status").get_attribute("data-ok") == "true"
    assert page.locator("#evidence-gates tbody tr").count() == 8  # prod's seven and the implied lineage gate
    assert page.get_by_text("head.of.ml@contoso.com").first.is_visible()
    watched.assert_quiet()
    shot(page, "report-evidence.png", full_page=True)
    page.close()


def test_thirty_environments_are_paged(browser, tmp_path):
    spec = importlib.util.spec_from_file_location("bench_synth", ROOT / "benchmarks" / "synth.py")
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    envs = load_environments(synth.generate_environments(tmp_path / "envs", 30))
    document, evidence = build_site(envs, environments_dir=tmp_path / "envs", state_dir=tmp_path / "state")
    write_site(document, evidence, tmp_path / "out")
    watched = Watched(browser)
    page = watched.open(tmp_path / "out" / "index.html")
    assert page.locator("svg#overview-svg g.env-node").count() == 30
    assert page.locator("svg#overview-svg g.promotion-edge").count() == 20
    assert visible_rows(page, "access-grants") == 50
    pager = page.locator('.pager[data-pager-for="access-grants"]')
    assert re.match(r"rows 1–50 of 270 · page 1 of 6", pager.inner_text().replace("\n", " ").split("‹ previous ")[-1])
    pager.get_by_role("button", name="next ›").click()
    assert "rows 51–100 of 270" in pager.inner_text()
    page.locator('[data-controls^="access-grants"] select[data-filter="env"]').select_option("prod7")
    assert visible_rows(page, "access-grants") == sum(1 for g in document["access"]["grants"] if g["env"] == "prod7")
    watched.assert_quiet()
    shot(page, "report-30-environments.png")
    page.close()
