"""The Starlette application: routes, templates, and the rules every response follows.

- Read-only: only GET and HEAD are answered (405 otherwise); nothing changes settings or state.
- With an access token (`[web] token` or CRAWLER_WEB_TOKEN) every request but /healthz needs it:
  `Authorization: Bearer TOKEN`, or `?token=TOKEN` once, which sets an HttpOnly cookie and
  redirects to the same page without it.
- Every response carries a strict Content-Security-Policy (no script at all, styles from the
  app's own stylesheet only) and headers against framing and type sniffing.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from crawler.web import routes

if TYPE_CHECKING:
    from crawler.config import Settings

STATIC = Path(__file__).parent / "static"
COOKIE = "crawler_token"
OPEN_PATHS = ("/healthz",)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class Guard(BaseHTTPMiddleware):
    """Methods, token and headers, for every request."""

    def __init__(self, app: object, token: str | None) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method not in ("GET", "HEAD"):
            response: Response = PlainTextResponse(
                "read-only: GET and HEAD only\n", 405, headers={"Allow": "GET, HEAD"}
            )
        elif self.token and request.url.path not in OPEN_PATHS:
            response = await self._authorised(request, call_next)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _authorised(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        assert self.token is not None
        given = request.query_params.get("token")
        if given is not None and _same(given, self.token):
            query = "&".join(f"{k}={v}" for k, v in _pairs(request))
            target = request.url.path + (f"?{query}" if query else "")
            response: Response = RedirectResponse(target, 303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return response
        header = request.headers.get("authorization", "")
        bearer = header[7:] if header.lower().startswith("bearer ") else ""
        if _same(bearer, self.token) or _same(request.cookies.get(COOKIE, ""), self.token):
            return await call_next(request)
        return PlainTextResponse(
            "an access token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN\n",
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )


def _pairs(request: Request) -> list[tuple[str, str]]:
    """The raw query's pairs, without the token."""
    pairs = []
    for part in request.url.query.split("&"):
        key, _, value = part.partition("=")
        if key and key != "token":
            pairs.append((key, value))
    return pairs


def _same(given: str, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def create_app(config: Settings) -> Starlette:
    """The app over `config`'s settings and state."""
    app = Starlette(
        routes=[*routes.ROUTES, Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(Guard, token=config.web.access_token)],
        exception_handlers={HTTPException: routes.not_found},
    )
    app.state.config = config
    return app
