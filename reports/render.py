"""Rendering the auditor's pages: one Jinja2 environment, autoescaped, with the stylesheet and script inlined.

Every page is self-contained: its CSS and JavaScript are read from reports/static/ and inlined, its data is
embedded as JSON (`<script type="application/json">`, which no browser executes), and a Content-Security-Policy
allows exactly the inlined style and script by their SHA-256 and nothing from any network. So a page opened from
a file or an attachment works offline, and even a value that escaped escaping could not run as script.

Rendering is a pure function of the data document: the same document gives the same bytes (no clock, no
environment), which is what lets `report evidence --verify` and the tests re-render a page and compare.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@lru_cache(maxsize=None)
def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def display(value: Any) -> str:
    """One leaf value as an auditor reads it: lists joined, null spelled out, dicts as compact JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(display(item) for item in value) if value else "[]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else "{}"
    return str(value)


def data_json(document: Any) -> Markup:
    """The document as JSON safe inside <script type="application/json"> (`<`, `>`, `&` escaped as \\u00XX)."""
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


@lru_cache(maxsize=None)
def jinja() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["display"] = display
    env.filters["short"] = lambda text, n=12: (str(text)[:n] + "…") if text and len(str(text)) > n else (text or "")
    env.filters["data_json"] = data_json
    return env


def render(template: str, document: dict[str, Any], *, script: str | None = None, **context: Any) -> str:
    """`template` rendered from `document` alone (plus the static files it inlines)."""
    css = _static("report.css")
    js = _static(script) if script else ""
    policy = ("default-src 'none'; img-src data:; base-uri 'none'; form-action 'none'; "
              f"style-src {_csp_hash(css)}; script-src {_csp_hash(js) if js else chr(39) + 'none' + chr(39)}")
    return jinja().get_template(template).render(doc=document, css=Markup(css), js=Markup(js), csp=policy, **context)
