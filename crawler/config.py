"""Settings: the TOML file's model, loading and validation.

This is the only module that reads the environment. Every other module receives a `Settings`.
A file that cannot be used raises `SettingsError` naming the file and the key::

    settings = load_settings("settings/crawler.toml")
    for feed in settings.feeds:
        print(feed.url, feed.every)
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crawler.errors import QueryError, SettingsError
from crawler.neardup import DEFAULT_THRESHOLD
from crawler.topics import check_query

DEFAULT_SETTINGS_PATH = "settings/crawler.toml"
SETTINGS_ENV = "CRAWLER_SETTINGS"
SMTP_PASSWORD_ENV = "CRAWLER_SMTP_PASSWORD"
WEB_TOKEN_ENV = "CRAWLER_WEB_TOKEN"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3}
_SIZE_UNITS["gib"] = 1024**3


def parse_duration(value: Any) -> timedelta:
    """'90s', '10m', '1h30m', '2d', '1w' or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '10m', '2h' or '2d'")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration such as '10m', '2h' or '2d'")
    return timedelta(seconds=sum(float(n) * _DURATION_UNITS[u] for n, u in parts))


def format_duration(value: timedelta) -> str:
    """timedelta -> '1h30m', the way settings write durations."""
    seconds = round(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def parse_size(value: Any) -> int:
    """'10MB', '512KiB' or a number of bytes -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a size such as '10MB'")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "b").lower()])


def _http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a URL string")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.strip()


def _regex(value: Any) -> str:
    try:
        re.compile(value)
    except (re.error, TypeError) as exc:
        raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return str(value)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
Regex = Annotated[str, BeforeValidator(_regex)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutputSettings(_Section):
    dir: Path = Path("output")
    # This process's own files (state.db, crawler.lock): `dir`, or in cluster mode
    # `dir/workers/<cluster.worker>`, so workers can share one output folder.
    state_dir: Path | None = None

    @property
    def queue_dir(self) -> Path:
        return self.dir / "queue"

    @property
    def own_dir(self) -> Path:
        return self.state_dir or self.dir

    @property
    def state_path(self) -> Path:
        return self.own_dir / "state.db"

    @property
    def mail_dir(self) -> Path:
        return self.dir / "mail"


class FetchSettings(_Section):
    user_agent: str = "crawler/0.1 (+https://example.org/crawler)"
    allow_hosts: list[str] = Field(default_factory=list)
    max_age: Duration = timedelta(days=2)
    timeout: Duration = timedelta(seconds=30)
    delay: Duration = timedelta(seconds=1)  # first delay between requests to one host; adapts
    max_page_size: Size = 10 * 1000**2
    per_domain: int = Field(default=2, ge=1, le=64)
    concurrency: int = Field(default=16, ge=1, le=1024)
    obey_robots: bool = True
    verify_certificates: bool = True  # off only for sites with self-signed certificates
    workers: int = Field(default=0, ge=0, le=64)  # extraction processes; 0 = one per core

    @field_validator("allow_hosts")
    @classmethod
    def _hosts_lowercase(cls, hosts: list[str]) -> list[str]:
        return [host.strip().lower() for host in hosts]

    @property
    def extraction_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


class ScheduleSettings(_Section):
    """How the daemon spaces polls (see crawler/schedule.py)."""

    min_every: Duration = timedelta(minutes=2)  # the fastest a busy source is polled
    max_every: Duration = timedelta(hours=6)  # the slowest a quiet or failing source is polled
    jitter: float = Field(default=0.1, ge=0, le=0.5)  # each interval moves by up to this fraction
    stop_timeout: Duration = timedelta(seconds=30)  # in-flight work allowed to finish on stop

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleSettings:
        if self.min_every > self.max_every:
            raise ValueError("schedule.min_every: must not be longer than schedule.max_every")
        return self


class DedupSettings(_Section):
    """Near-duplicates: a body this similar to an earlier one (estimated Jaccard similarity of
    word shingles) is the same story; signatures are kept for `keep`."""

    near_threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0, lt=1)
    keep: Duration = timedelta(days=30)


class ArchiveSettings(_Section):
    """Recently extracted articles, kept for `crawler topics test --recent` and for backfill."""

    keep: Duration = timedelta(days=7)
    backfill: bool = True  # a new topic is matched once against articles within fetch.max_age


class FeedSource(_Section):
    url: HttpUrl
    name: str | None = None
    every: Duration = timedelta(minutes=10)
    tags: list[str] = Field(default_factory=list)  # e.g. the OPML categories it came from

    kind: ClassVar[str] = "feed"

    @property
    def key(self) -> str:
        """The source's identity in the state database and the scheduler."""
        return self.url


class SitemapSource(_Section):
    """A sitemap, a sitemap index (gzip or not), or a robots.txt whose Sitemap: lines to follow."""

    url: HttpUrl
    name: str | None = None
    every: Duration = timedelta(minutes=15)

    kind: ClassVar[str] = "sitemap"

    @property
    def key(self) -> str:
        return self.url


class SiteSource(_Section):
    """A site without a feed: start pages, the links that are articles (`allow`), the links to
    walk through without queueing them (`follow`, e.g. section pages), and limits."""

    start: list[HttpUrl] = Field(min_length=1)  # the first start page names the site
    allow: list[Regex] = Field(default_factory=list)
    deny: list[Regex] = Field(default_factory=list)
    follow: list[Regex] = Field(default_factory=list)
    depth: int = Field(default=1, ge=0, le=5)
    budget: int = Field(default=200, ge=1)  # article pages fetched per pass at most
    min_words: int = Field(default=60, ge=0)  # shorter pages are not articles
    name: str | None = None
    every: Duration = timedelta(minutes=30)

    kind: ClassVar[str] = "site"

    @property
    def key(self) -> str:
        return self.start[0]

    @field_validator("start", "allow", "deny", "follow", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def _email(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise ValueError(f"{value!r} is not an email address")
    return value.strip()


Email = Annotated[str, BeforeValidator(_email)]


class AlertSettings(_Section):
    """A topic's alert emails: each recipient gets their own message."""

    to: list[Email] = Field(min_length=1)
    mode: Literal["immediate", "digest"] = "immediate"
    every: Duration | None = None  # digest interval
    cron: str | None = None  # digest times, e.g. "0 7 * * mon-fri"
    timezone: str = "UTC"  # of the cron times
    max_items: int = Field(default=50, ge=1, le=1000)
    subject_prefix: str = ""

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name such as 'Europe/Berlin'") from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a cron expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _timing(self) -> AlertSettings:
        if self.mode == "immediate" and (self.every or self.cron):
            raise ValueError('every/cron: only a digest has a schedule (mode = "digest")')
        if self.mode == "digest" and self.every and self.cron:
            raise ValueError("every/cron: give a digest one of the two, not both")
        return self

    @property
    def digest_every(self) -> timedelta | None:
        """The digest interval (1 hour when a digest names neither every nor cron)."""
        if self.mode != "digest" or self.cron:
            return None
        return self.every or timedelta(hours=1)


Source = FeedSource | SitemapSource | SiteSource


def default_worker_name() -> str:
    """`<host name>-<pid>`: unique among the workers of a cluster."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _redis_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a URL such as 'redis://host:6379/0'")
    scheme = urlsplit(value.strip()).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"{value!r} is not a redis://, rediss:// or unix:// URL")
    return value.strip()


class ClusterSettings(_Section):
    """Several `crawler run` workers sharing one Redis (crawler/cluster/)."""

    redis: Annotated[str, BeforeValidator(_redis_url)]
    worker: str = Field(default_factory=default_worker_name, pattern=r"^[\w.@:-]{1,100}$")
    prefix: str = Field(default="crawler", pattern=r"^[\w.:-]{1,50}$")  # of every Redis key
    heartbeat: Duration = timedelta(seconds=5)  # how often a worker renews its leases
    lease: Duration = timedelta(seconds=20)  # a dead worker's sources are free after this
    stream: str | None = None  # also XADD every item to this Redis stream
    stream_maxlen: int = Field(default=100_000, ge=1)  # entries kept (approximately)

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> ClusterSettings:
        if self.lease < self.heartbeat * 2:
            raise ValueError("cluster.lease: must be at least twice cluster.heartbeat")
        return self


class TopicSettings(_Section):
    name: str = Field(min_length=1)
    query: str
    stem: bool = False
    min_count: int = Field(default=1, ge=1)
    alert: AlertSettings | None = None

    @field_validator("query")
    @classmethod
    def _query_parses(cls, query: str) -> str:
        try:
            check_query(query)
        except QueryError as exc:
            raise ValueError(str(exc)) from None
        return query


class MailSettings(_Section):
    transport: Literal["file", "smtp"] = "file"  # file: one .eml per message in <output>/mail/
    sender: Email = Field(default="crawler@localhost", alias="from")
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None  # the password comes from CRAWLER_SMTP_PASSWORD
    timeout: Duration = timedelta(seconds=30)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WebSettings(_Section):
    """`crawler serve`: where the read-only web app listens and the token it asks for.

    The token may also come from CRAWLER_WEB_TOKEN (the file's value wins)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    token: str | None = Field(default=None, min_length=16)

    @property
    def access_token(self) -> str | None:
        return self.token or os.environ.get(WEB_TOKEN_ENV) or None


class Settings(_Section):
    output: OutputSettings = OutputSettings()
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    archive: ArchiveSettings = ArchiveSettings()
    dedup: DedupSettings = DedupSettings()
    feeds: list[FeedSource] = Field(default_factory=list)
    sitemaps: list[SitemapSource] = Field(default_factory=list)
    sites: list[SiteSource] = Field(default_factory=list)
    topics: list[TopicSettings] = Field(default_factory=list)
    mail: MailSettings = MailSettings()
    web: WebSettings = WebSettings()
    cluster: ClusterSettings | None = None  # absent: one embedded process, no Redis
    path: str = Field(default="", exclude=True)  # the file these settings came from

    @model_validator(mode="before")
    @classmethod
    def _worker_files(cls, data: Any) -> Any:
        """In cluster mode each worker keeps its own state.db and lock under the output folder."""
        if not isinstance(data, dict) or not isinstance(data.get("cluster"), dict):
            return data
        output = data.get("output", {})
        if not isinstance(output, dict) or "state_dir" in output:
            return data
        worker = data["cluster"].get("worker") or default_worker_name()
        if not isinstance(worker, str) or not re.fullmatch(r"[\w.@:-]{1,100}", worker):
            return data  # the field's own validation names the problem
        base = Path(output.get("dir", "output"))
        return {**data, "output": {**output, "state_dir": base / "workers" / worker}}

    @property
    def sources(self) -> list[Source]:
        """Every feed, sitemap and site, in the order of the file."""
        return [*self.feeds, *self.sitemaps, *self.sites]

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        names: set[str] = set()
        for index, topic in enumerate(self.topics):
            if topic.name in names:
                raise ValueError(f"topics[{index}].name: topic {topic.name!r} is defined twice")
            names.add(topic.name)
        seen: set[str] = set()
        sections: list[tuple[str, list[Source]]] = [
            ("feeds", list(self.feeds)),
            ("sitemaps", list(self.sitemaps)),
            ("sites", list(self.sites)),
        ]
        for section, sources in sections:
            for index, source in enumerate(sources):
                if source.key in seen:
                    field = "start" if section == "sites" else "url"
                    raise ValueError(f"{section}[{index}].{field}: {source.key!r} is listed twice")
                seen.add(source.key)
        return self


def settings_path(explicit: str | None) -> str:
    """The settings file to use: --settings, else CRAWLER_SETTINGS, else the default."""
    return explicit or os.environ.get(SETTINGS_ENV) or DEFAULT_SETTINGS_PATH


def smtp_password() -> str | None:
    return os.environ.get(SMTP_PASSWORD_ENV)


def load_settings(path: str | Path) -> Settings:
    """Read and validate one settings file; raise SettingsError naming the file and the key."""
    path = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(path, None, "no such file") from None
    except OSError as exc:
        raise SettingsError(path, None, exc.strerror or str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(path, None, f"not valid TOML: {exc}") from None
    return settings_from_dict(data, path)


def settings_from_dict(data: dict[str, Any], path: str = "<settings>") -> Settings:
    try:
        return Settings.model_validate({**data, "path": path})
    except ValidationError as exc:
        error = exc.errors()[0]
        key = _key_path(error["loc"])
        message = _message(error)
        if not key and ": " in message:  # a whole-file check names its key in the message
            key, message = message.split(": ", 1)
        raise SettingsError(path, key or None, message) from None


def _key_path(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else str(part)
    return key


def _message(error: Any) -> str:
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown key (check its spelling and the section it is in)"
    if kind == "missing":
        return "required key is missing"
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"{message}, got {error.get('input')!r}"
    return message
