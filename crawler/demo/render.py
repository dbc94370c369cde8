"""Renders the bundled demo news site, one path at a time, for the demo server.

Every file under `site/` is a Jinja2 template. Rendering at serve time lets the pages carry the
server's own address (`base`) and publication dates relative to the moment they are served, so the
demo behaves the same whatever the day and whatever port it runs on. Files and folders whose name
starts with `_` are layouts and shared fragments: templates use them, the server never serves them.

    >>> body, content_type = render("caspian-courier/rss.xml", "http://127.0.0.1:8123", now)
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path, PurePosixPath

import jinja2

__all__ = ["SITE_DIR", "render", "served_paths"]

SITE_DIR = Path(__file__).with_name("site")
"""The folder that holds the site's templates."""

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/feed+json",
    ".txt": "text/plain; charset=utf-8",
}
_RSS = "application/rss+xml"
_ATOM = "application/atom+xml"


@cache
def _environment() -> jinja2.Environment:
    """The one template environment: HTML and XML autoescaped, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(SITE_DIR),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _template_name(relative_path: str) -> str | None:
    """The template that serves a site path, or None when the path may not be served."""
    if "\\" in relative_path or "\x00" in relative_path or relative_path.startswith("/"):
        return None
    if relative_path == "" or relative_path.endswith("/"):
        relative_path += "index.html"
    parts = relative_path.split("/")
    if any(part in ("", ".", "..") or part.startswith(("_", ".")) for part in parts):
        return None
    name = "/".join(parts)
    if _content_type(name) is None or not (SITE_DIR / name).is_file():
        return None
    return name


def _content_type(name: str) -> str | None:
    """The Content-Type for a file name, by its extension; None for a type the site does not use."""
    path = PurePosixPath(name)
    if path.suffix == ".xml":
        return _ATOM if "atom" in path.stem else _RSS
    return _CONTENT_TYPES.get(path.suffix)


def _date_helpers(now: datetime) -> dict[str, object]:
    """The `rfc822(hours_ago)` and `iso(hours_ago)` helpers the templates use for every date."""
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    moment = moment.replace(microsecond=0)

    def ago(hours_ago: float) -> datetime:
        return moment - timedelta(hours=hours_ago)

    def rfc822(hours_ago: float) -> str:
        return email.utils.format_datetime(ago(hours_ago), usegmt=True)

    def iso(hours_ago: float) -> str:
        return ago(hours_ago).isoformat().replace("+00:00", "Z")

    return {"rfc822": rfc822, "iso": iso}


def render(relative_path: str, base_url: str, now: datetime) -> tuple[bytes, str] | None:
    """The body and Content-Type for one site path (e.g. "caspian-courier/rss.xml"), or None.

    `relative_path` is the URL path without its leading slash and without a query string; a path
    ending in "/" (or the empty path) serves that folder's index.html. None means "not found": a
    missing file, a layout or fragment (a name starting with `_`), or a path that tries to leave
    the site folder. `base_url` is the server's origin without a trailing slash; `now` anchors the
    relative publication dates (a naive datetime is taken as UTC).
    """
    name = _template_name(relative_path)
    if name is None:
        return None
    content_type = _content_type(name)
    assert content_type is not None  # _template_name admits only known types
    template = _environment().get_template(name)
    body = template.render(base=base_url.rstrip("/"), **_date_helpers(now))
    return body.encode("utf-8"), content_type


def served_paths() -> list[str]:
    """Every path the site serves, folder indexes as "folder/", sorted; for tests and browsing."""
    paths = []
    for file in SITE_DIR.rglob("*"):
        relative = file.relative_to(SITE_DIR).as_posix()
        if file.name == "index.html":
            relative = relative.removesuffix("index.html")
        if file.is_file() and _template_name(relative) is not None:
            paths.append(relative)
    return sorted(paths)
