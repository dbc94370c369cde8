"""The pages' Jinja2 environment: autoescaped templates and the filters they use.

Article strings are hostile input: every one is escaped by autoescape, and a URL becomes a
link only when it is http(s) (`web_url`): a `javascript:` URL is shown as text.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from crawler.web.highlight import mark, mark_fts

TEMPLATES = Path(__file__).parent / "templates"


def is_web_url(url: Any) -> bool:
    """An http(s) URL with a host: the only kind the pages link to."""
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 0x20 for c in url.strip()):
        return False
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def utc(when: float | str | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    if not isinstance(when, int | float | str) or when == "":  # None, or absent (Undefined)
        return "—"
    if isinstance(when, str):
        try:
            parsed = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return when
        moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime(fmt)
    return datetime.fromtimestamp(when, UTC).strftime(fmt)


def ago(when: float | None, now: float | None = None) -> str:
    if not isinstance(when, int | float):  # None, or absent (Undefined): never happened
        return "never"
    delta = (time.time() if now is None else now) - when
    seconds = abs(delta)
    words = f"{seconds:.0f}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            words = f"{seconds / size:.0f}{unit}"
            break
    return f"{words} ago" if delta >= 0 else f"in {words}"


def duration(seconds: float | None) -> str:
    if not isinstance(seconds, int | float) or not seconds:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        utc=utc, ago=ago, duration=duration, mark=mark, mark_fts=mark_fts, web_url=is_web_url
    )
    env.globals.update(urlencode=urlencode)
    return env


ENV = _environment()


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    body = ENV.get_template(template).render(request=request, path=request.url.path, **context)
    return HTMLResponse(body, status_code)
