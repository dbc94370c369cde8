"""The normal form of a URL, in which every URL is looked up and stored (crawler/dedup.py has the
decisions made with it). Pure and light: the feed workers use it too."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import courlan


def normalize_url(url: str) -> str:
    """The form of a URL used for every 'seen' decision.

    Lower-case scheme and host, no default port, no fragment, tracking parameters removed and the
    remaining query sorted. A URL that cannot be parsed is returned stripped, unchanged otherwise.
    """
    url = url.strip()
    try:
        normal = courlan.normalize_url(url, strict=False)
    except (ValueError, AttributeError):
        return url
    parts = urlsplit(normal)
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
