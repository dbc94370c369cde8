"""Starting the web app: the safety check on the address, the socket, uvicorn."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from crawler.errors import SettingsError, StateError
from crawler.state import State

if TYPE_CHECKING:
    from crawler.config import Settings


def check_bind(config: Settings, host: str) -> None:
    """Refuse (SettingsError naming web.token) to listen beyond loopback without a token."""
    if config.web.access_token or _loopback(host):
        return
    raise SettingsError(
        config.path,
        "web.token",
        f"refusing to serve on {host} without an access token "
        "(set [web] token or CRAWLER_WEB_TOKEN, or bind 127.0.0.1)",
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def prepare_state(config: Settings) -> None:
    """Create or upgrade the state database once, before the app opens it read-only."""
    path = config.output.state_path
    if path.exists():
        try:
            with State(path, readonly=True):
                return
        except StateError:
            pass  # older schema: upgraded below
    with State(path):
        pass


def serve(
    config: Settings,
    host: str | None = None,
    port: int | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the app until interrupted; `announce` gets the URL once it listens."""
    import uvicorn

    from crawler.web.app import create_app

    host = host or config.web.host
    port = config.web.port if port is None else port
    check_bind(config, host)
    prepare_state(config)
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    announce(f"http://{shown}:{sock.getsockname()[1]}/")
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises Ctrl-C again once it has shut down
        pass
    finally:
        sock.close()
