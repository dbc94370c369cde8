"""`crawler serve`: a small read-only web app over the settings and the state database.

Its own process: it opens the state database read-only (SQLite's mode=ro), so the daemon's
writer is never blocked, and reuses what `crawler status` and `crawler topics test` use.

- `app`: the Starlette application, its safety middleware (token, methods, headers);
- `routes`: the pages and the JSON API; `views`: the data they show;
- `feeds`: Atom feeds of all items and of each topic, with conditional GET;
- `metrics`: /metrics for Prometheus, from the counters the daemon keeps in the state;
- `highlight`: matched terms marked in escaped text; `templates/`, `static/`: the pages.

    serve(load_settings("settings/crawler.toml"))   # until Ctrl-C
"""

from __future__ import annotations

from crawler.web.server import bind, check_bind, serve

__all__ = ["bind", "check_bind", "serve"]
