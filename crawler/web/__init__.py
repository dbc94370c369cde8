"""`crawler serve`: a small read-only web app over the settings and the state database.

Its own process: it opens the state database read-only (SQLite's mode=ro), so the daemon's
writer is never blocked, and reuses what `crawler status` and `crawler topics test` use.

- `server`: the address check (no public bind without a token), the socket, uvicorn;
- `app`: the Starlette application, its safety middleware (token, methods, headers);
- `routes`: the pages and the JSON API; `views`: the data they show;
- `feeds`: Atom feeds of all items and of each topic, with conditional GET;
- `metrics`: /metrics for Prometheus, from the counters the crawl keeps in the state
  (crawler/counters.py);
- `prefilter`: a topic query's necessary words for the archive's full-text index;
- `highlight`, `render`: matched terms marked in escaped text, the templates' environment;
  `templates/`, `static/`: the pages and their one stylesheet.

    serve(load_settings("settings/crawler.toml"))   # until Ctrl-C
"""

from __future__ import annotations

from crawler.web.server import bind, check_bind, serve

__all__ = ["bind", "check_bind", "serve"]
