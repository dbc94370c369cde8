"""The pages and the JSON API. Handlers are plain functions (Starlette runs them in a thread),
each opening the state read-only for the one request."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from crawler.config import Settings, parse_duration
from crawler.errors import StateError
from crawler.web import feeds, metrics, views
from crawler.web.render import page

PAGE_SIZE = 50
WINDOWS = ("1d", "3d", "7d", "30d")  # the topic tester's choices


def _config(request: Request) -> Settings:
    config: Settings = request.app.state.config
    return config


def _day(value: str | None) -> tuple[float, float] | None:
    """'2026-11-30' -> that UTC day as [start, end) seconds, or None."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(400, f"not a date (YYYY-MM-DD): {value}") from None
    return day.timestamp(), (day + timedelta(days=1)).timestamp()


def _window(value: str | None, default: str = "7d") -> tuple[str, float]:
    text = value if value in WINDOWS else default
    return text, parse_duration(text).total_seconds()


# -- pages ------------------------------------------------------------------------------------


def overview(request: Request) -> Response:
    config, now = _config(request), time.time()
    with views.reader(config) as state:
        data = views.overview(config, state, now)
    return page(request, "overview.html", data=data, now=now, title="Overview")


def items(request: Request) -> Response:
    config, now = _config(request), time.time()
    filters = _item_filters(request)
    with views.reader(config) as state:
        if filters["q"]:
            found, error = _search(state, filters)
            listed: list[dict[str, Any]] = []
        else:
            found, error = [], None
            listed = views.items(state, **_query(filters))
    sources = [(s.key, s.name or s.key) for s in config.sources]
    return page(
        request,
        "items.html",
        title="Items",
        items=listed,
        results=found,
        error=error,
        filters=filters,
        topics=[t.name for t in config.topics],
        sources=sources,
        now=now,
        page_size=PAGE_SIZE,
    )


def _item_filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    before = params.get("before")
    try:
        before_at = float(before) if before else None
    except ValueError:
        raise HTTPException(400, "before: not a time") from None
    return {
        "q": params.get("q", "").strip(),
        "topic": params.get("topic") or None,
        "source": params.get("source") or None,
        "date": params.get("date") or "",
        "before": before_at,
    }


def _query(filters: dict[str, Any]) -> dict[str, Any]:
    query: dict[str, Any] = {"topic": filters["topic"], "source": filters["source"]}
    day = _day(filters["date"])
    if day is not None:
        query["since"], query["until"] = day
    if filters["before"] is not None:
        query["until"] = min(query.get("until", filters["before"]), filters["before"])
    return {**query, "limit": PAGE_SIZE}


def _search(state: Any, filters: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    day = _day(filters["date"])
    try:
        return views.search(state, filters["q"], since=day[0] if day else None), None
    except sqlite3.OperationalError as exc:
        return [], f"cannot search for that: {exc}"


def item(request: Request) -> Response:
    config = _config(request)
    with views.reader(config) as state:
        data = views.item(config, state, request.path_params["item_id"])
    if data is None:
        raise HTTPException(404, "no such item")
    return page(request, "item.html", title=data["title"] or data["url"], item=data)


def archived(request: Request) -> Response:
    config = _config(request)
    url = request.query_params.get("url", "")
    with views.reader(config) as state:
        data = views.archived(config, state, url)
    if data is None:
        raise HTTPException(404, "that URL is not in the archive")
    record = data["record"]
    return page(
        request,
        "item.html",
        title=record.get("title") or url,
        item={
            "url": url,
            "title": record.get("title"),
            "record": record,
            "matches": data["matches"],
            "also_reported": [],
            "topics": [],
            "archived": True,
        },
    )


def sources(request: Request) -> Response:
    config, now = _config(request), time.time()
    with views.reader(config) as state:
        rows = views.sources(config, state, now)
    return page(request, "sources.html", title="Sources", sources=rows, now=now)


def topics(request: Request) -> Response:
    config, now = _config(request), time.time()
    with views.reader(config) as state:
        rows = views.topics(config, state, now)
    return page(request, "topics.html", title="Topics", topics=rows, now=now)


def _limit(request: Request) -> int:
    try:
        wanted = int(request.query_params.get("limit") or views.TESTER_LIMIT)
    except ValueError:
        raise HTTPException(400, "limit: not a number") from None
    return max(1, min(wanted, views.TESTER_MAX))


def tester(request: Request) -> Response:
    config, now = _config(request), time.time()
    query = request.query_params.get("q", "").strip()
    window, seconds = _window(request.query_params.get("since"))
    every = request.query_params.get("every") == "1"
    limit = _limit(request)
    result = None
    if query:
        with views.reader(config) as state:
            result = views.try_query(state, query, now - seconds, every=every, limit=limit)
    return page(
        request,
        "tester.html",
        title="Topic tester",
        query=query,
        window=window,
        windows=WINDOWS,
        every=every,
        result=result,
        limit=limit,
        more=min(limit * 5, views.TESTER_MAX),
    )


# -- feeds, API, metrics ------------------------------------------------------------------------


def items_feed(request: Request) -> Response:
    return _feed(request, None)


def topic_feed(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in {t.name for t in _config(request).topics}:
        raise HTTPException(404, "no such topic")
    return _feed(request, name)


def _feed(request: Request, topic: str | None) -> Response:
    config = _config(request)
    with views.reader(config) as state:
        listed = state.recent_items(topic=topic, limit=feeds.ENTRIES)
        for entry in listed:
            entry["record"] = state.archived_record(entry["url"])
    title = f"crawler: {topic}" if topic else "crawler: all items"
    return feeds.feed_response(request, title=title, feed_key=topic or "", items=listed)


def api_status(request: Request) -> Response:
    config = _config(request)
    with views.reader(config) as state:
        return JSONResponse(views.report(config, state, time.time()))


def api_items(request: Request) -> Response:
    filters = _item_filters(request)
    with views.reader(_config(request)) as state:
        if filters["q"]:
            found, error = _search(state, filters)
            if error:
                return JSONResponse({"error": error}, 400)
            return JSONResponse({"results": found})
        return JSONResponse({"items": views.items(state, **_query(filters))})


def api_item(request: Request) -> Response:
    config = _config(request)
    with views.reader(config) as state:
        data = views.item(config, state, request.path_params["item_id"])
    if data is None:
        return JSONResponse({"error": "no such item"}, 404)
    return JSONResponse(data)


def api_sources(request: Request) -> Response:
    with views.reader(_config(request)) as state:
        return JSONResponse({"sources": views.sources(_config(request), state, time.time())})


def api_topics(request: Request) -> Response:
    with views.reader(_config(request)) as state:
        return JSONResponse({"topics": views.topics(_config(request), state, time.time())})


def api_topic_test(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()
    if not query:
        return JSONResponse({"error": "q: give a query"}, 400)
    _, seconds = _window(request.query_params.get("since"))
    every = request.query_params.get("every") == "1"
    with views.reader(_config(request)) as state:
        result = views.try_query(
            state, query, time.time() - seconds, every=every, limit=_limit(request)
        )
    return JSONResponse(result, 400 if result["error"] else 200)


def metrics_page(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(metrics.exposition(_config(request)), media_type=CONTENT_TYPE_LATEST)


def healthz(request: Request) -> Response:
    try:
        with views.reader(_config(request)) as state:
            state.counts()
    except (StateError, sqlite3.Error) as exc:
        return PlainTextResponse(f"state not readable: {exc}\n", 503)
    return PlainTextResponse("ok\n")


def not_found(request: Request, exc: Exception) -> Response:
    detail = getattr(exc, "detail", "not found")
    status_code = getattr(exc, "status_code", 404)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": detail}, status_code)
    return page(request, "error.html", status_code, title="Not found", message=detail)


ROUTES = [
    Route("/", overview),
    Route("/items", items),
    Route("/items.atom", items_feed),
    Route("/items/{item_id}", item),
    Route("/archive", archived),
    Route("/sources", sources),
    Route("/topics", topics),
    Route("/topics/test", tester),
    Route("/topics/{name}.atom", topic_feed),
    Route("/api/status", api_status),
    Route("/api/items", api_items),
    Route("/api/items/{item_id}", api_item),
    Route("/api/sources", api_sources),
    Route("/api/topics", api_topics),
    Route("/api/topics/test", api_topic_test),
    Route("/metrics", metrics_page),
    Route("/healthz", healthz),
]
