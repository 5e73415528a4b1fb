"""The documentation site builds with MkDocs (Material) in strict mode, offline: a warning (a broken link or anchor,
a missing page in the nav) fails the build, and nothing in it is fetched from the network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def build(config: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor is not a build warning
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(out)], capture_output=True, text=True, env=env, timeout=300)


def nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return [page for item in nav for page in nav_pages(item)]


def test_the_site_builds_strictly_and_offline(tmp_path):
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    site = tmp_path / "site"
    for page in ("index.html", "reference/cli/index.html", "reference/exit-codes/index.html",
                 "reference/environment-fields/index.html", "reference/rules/index.html", "first-deploy/index.html"):
        assert (site / page).is_file(), page
    html = "\n".join(p.read_text() for p in site.rglob("*.html"))
    assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html
    # Every asset a page loads is the site's own.
    assert not re.findall(r'<(?:script|link)[^>]+(?:src|href)="https?://', html)


def test_every_page_of_the_nav_exists_and_the_home_page_is_the_readme():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", "#"))
    pages = nav_pages(config["nav"])
    assert [p for p in pages if not (ROOT / "docs" / p).is_file()] == []
    assert {"index.md", "getting-started.md", "adding-an-environment.md", "adding-a-model.md", "first-deploy.md",
            "ci-setup.md", "troubleshooting.md", "reference/cli.md", "reference/exit-codes.md",
            "reference/environment-fields.md", "reference/rules.md"} <= set(pages)
    assert (ROOT / "docs" / "index.md").read_text() == (ROOT / "README.md").read_text().replace("](docs/", "](")


def test_a_broken_anchor_fails_the_strict_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "troubleshooting.md"
    page.write_text(page.read_text() + "\nSee [a command that does not exist](reference/cli.md#lakegate-frobnicate).\n")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "lakegate-frobnicate" in result.stderr


def test_the_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    headings = re.findall(r"^## (.+)$", readme, re.M)
    # Speed: the benchmark table the issue on speed asks the README to show (benchmarks/cli.py's figures).
    assert headings == ["Usage", "A first walk", "Speed", "Documentation"]
    assert len(readme.splitlines()) <= 95
    # The two commands, exactly as .ci/run and the Makefile know them.
    assert "make demo   # install" in readme and "make test   # install" in readme
