"""Settings: the TOML file's model, loading and validation.

This is the only module that reads the environment. Every other module receives a `Settings`.
A file that cannot be used raises `SettingsError` naming the file and the key::

    settings = load_settings("settings/crawler.toml")
    for feed in settings.feeds:
        print(feed.url, feed.every)
"""

from __future__ import annotations

import math
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
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from crawler.alerts.recipients import problem, recipient_kind
from crawler.errors import QueryError, SettingsError
from crawler.neardup import DEFAULT_THRESHOLD
from crawler.topics import check_query

DEFAULT_SETTINGS_PATH = "settings/crawler.toml"
SETTINGS_ENV = "CRAWLER_SETTINGS"
SMTP_PASSWORD_ENV = "CRAWLER_SMTP_PASSWORD"
WEBHOOK_SECRET_ENV = "CRAWLER_WEBHOOK_SECRET"
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
WEB_TOKEN_ENV = "CRAWLER_WEB_TOKEN"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3}
_SIZE_UNITS["gib"] = 1024**3

MAX_SETTINGS_BYTES = 10 * 1000**2  # a settings file larger than this is refused
LONGEST = timedelta(days=3650)  # no duration is longer (ten years)
HOUR, MONTH = timedelta(hours=1), timedelta(days=30)
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 1000, 1000**3


def parse_duration(value: Any) -> timedelta:
    """'90s', '10m', '1h30m', '2d', '1w' or a number of seconds -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '10m', '2h' or '2d'")
    if isinstance(value, int | float):
        return _seconds(float(value), value)
    text = str(value).strip().lower().replace(" ", "")
    negative = text.startswith("-")
    parts = _DURATION_PART.findall(text.removeprefix("-"))
    if not parts or "".join(n + u for n, u in parts) != text.removeprefix("-"):
        raise ValueError(f"{value!r} is not a duration such as '10m', '2h' or '2d'")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    return _seconds(-seconds if negative else seconds, value)


def _seconds(seconds: float, value: Any) -> timedelta:
    """A number of seconds as a timedelta; a clear error, never an OverflowError, when absurd."""
    if not math.isfinite(seconds) or abs(seconds) > LONGEST.total_seconds():
        raise ValueError(f"{value!r} is longer than {LONGEST.days} days")
    return timedelta(seconds=seconds)


def _within(longest: timedelta, *, zero: bool = False) -> AfterValidator:
    """A duration's range: more than 0s (0s or more when `zero` means none) up to `longest`."""

    def check(value: timedelta) -> timedelta:
        if value < timedelta(0) or (value == timedelta(0) and not zero) or value > longest:
            low = "0s or more" if zero else "longer than 0s"
            raise ValueError(
                f"must be {low} and at most {format_duration(longest)}, "
                f"got {value.total_seconds():g}s"
            )
        return value

    return AfterValidator(check)


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
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"{value!r} is not a size such as '10MB'")
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a size such as '10MB'")
    number, unit = match.groups()
    size = float(number) * _SIZE_UNITS[(unit or "b").lower()]
    if not math.isfinite(size) or size > 1000**5:
        raise ValueError(f"{value!r} is larger than 1PB")
    return int(size)


def _page_size(value: int) -> int:
    if not MIN_PAGE_SIZE <= value <= MAX_PAGE_SIZE:
        raise ValueError(f"must be between 1KB and 1GB, got {value} bytes")
    return value


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


# Every duration is more than 0s and at most ten years unless its type says otherwise.
Duration = Annotated[timedelta, BeforeValidator(parse_duration), _within(LONGEST)]
Interval = Annotated[timedelta, BeforeValidator(parse_duration), _within(MONTH)]  # between polls
Timeout = Annotated[timedelta, BeforeValidator(parse_duration), _within(HOUR)]
Delay = Annotated[timedelta, BeforeValidator(parse_duration), _within(HOUR, zero=True)]  # 0s: none
PageSize = Annotated[int, BeforeValidator(parse_size), AfterValidator(_page_size)]
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


AUTO_WORKERS_MAX = 4
"""Extraction workers that `fetch.workers = 0` starts at most."""


class FetchSettings(_Section):
    user_agent: str = "crawler/0.1 (+https://example.org/crawler)"
    allow_hosts: list[str] = Field(default_factory=list)
    max_age: Duration = timedelta(days=2)
    timeout: Timeout = timedelta(seconds=30)
    delay: Delay = timedelta(seconds=1)  # first delay between requests to one host; adapts
    max_page_size: PageSize = 10 * 1000**2
    per_domain: int = Field(default=2, ge=1, le=64)
    concurrency: int = Field(default=16, ge=1, le=1024)
    obey_robots: bool = True
    verify_certificates: bool = True  # off only for sites with self-signed certificates
    workers: int = Field(default=0, ge=0, le=64)  # extraction processes; 0 = automatic
    # new entries one poll of a feed takes up at most; the rest wait for the next polls
    max_entries: int = Field(default=2000, ge=1, le=1_000_000)

    @field_validator("allow_hosts")
    @classmethod
    def _hosts_lowercase(cls, hosts: list[str]) -> list[str]:
        return [host.strip().lower() for host in hosts]

    @property
    def extraction_workers(self) -> int:
        """`workers`, or with 0 one per core up to `AUTO_WORKERS_MAX`: each worker holds its
        own copy of the extraction libraries (about 40 MiB), and beyond a few the Scrapy
        engine in the main process is the bound, not extraction."""
        return self.workers or min(os.cpu_count() or 1, AUTO_WORKERS_MAX)


class ScheduleSettings(_Section):
    """How the daemon spaces polls (see crawler/schedule.py)."""

    min_every: Interval = timedelta(minutes=2)  # the fastest a busy source is polled
    max_every: Interval = timedelta(hours=6)  # the slowest a quiet or failing source is polled
    jitter: float = Field(default=0.1, ge=0, lt=1)  # each interval moves by up to this fraction
    stop_timeout: Timeout = timedelta(seconds=30)  # in-flight work allowed to finish on stop

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
    every: Interval = timedelta(minutes=10)
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
    every: Interval = timedelta(minutes=15)

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
    every: Interval = timedelta(minutes=30)

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


def expand_environment(value: str) -> str:
    """`value` with each ``${NAME}`` replaced by that environment variable; ValueError naming
    the first one that is not set."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REFERENCE.sub(variable, value)


def _recipient(value: Any) -> str:
    """A recipient as written (``${NAME}`` kept, so no secret is stored or shown), checked with
    the environment expanded: an email address, a ``webhook+http(s)://`` URL, or an Apprise URL."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected an email address or a URL such as 'ntfy://host/topic'")
    written = value.strip()
    target = expand_environment(written)
    if recipient_kind(target) == "mail":
        if _ENV_REFERENCE.search(written):
            if not _EMAIL.match(target.strip()):
                raise ValueError(f"the value of {written} is not an email address or a URL")
            return written
        return _email(written)
    reason = problem(target)
    if reason:
        raise ValueError(reason)
    return written


Recipient = Annotated[str, BeforeValidator(_recipient)]


class AlertSettings(_Section):
    """A topic's alerts: each recipient (an email address, an Apprise URL or a signed
    webhook, see crawler/alerts/recipients.py) gets their own message. `to` holds the
    recipients as written; :meth:`target` gives one with ``${NAME}`` expanded."""

    to: list[Recipient] = Field(min_length=1)
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

    _targets: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _expand(self) -> AlertSettings:
        self._targets.update({to: expand_environment(to) for to in self.to})
        return self

    def target(self, recipient: str) -> str:
        """Where `recipient` (one of `to`, as written) is sent, environment expanded."""
        return self._targets.get(recipient) or expand_environment(recipient)

    @property
    def digest_every(self) -> timedelta | None:
        """The digest interval (1 hour when a digest names neither every nor cron)."""
        if self.mode != "digest" or self.cron:
            return None
        return self.every or timedelta(hours=1)


Source = FeedSource | SitemapSource | SiteSource


WORKER_NAME = r"[\w.@:-]+"  # cluster.worker, also a folder name


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
    # Lengths apart from the patterns: a bounded repetition of the Unicode \w class costs the
    # compiled pattern about 13 MiB in every process.
    worker: str = Field(
        default_factory=default_worker_name, pattern=f"^{WORKER_NAME}$", max_length=100
    )
    prefix: str = Field(default="crawler", pattern=r"^[\w.:-]+$", max_length=50)  # of Redis keys
    heartbeat: Timeout = timedelta(seconds=5)  # how often a worker renews its leases
    lease: Timeout = timedelta(seconds=20)  # a dead worker's sources are free after this
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
    timeout: Timeout = timedelta(seconds=30)

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
        valid = isinstance(worker, str) and len(worker) <= 100 and re.fullmatch(WORKER_NAME, worker)
        if not valid:
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


def webhook_secret() -> str | None:
    """The shared secret that signs webhook alerts (CRAWLER_WEBHOOK_SECRET), if set."""
    return os.environ.get(WEBHOOK_SECRET_ENV) or None


def load_settings(path: str | Path) -> Settings:
    """Read and validate one settings file; raise SettingsError naming the file and the key.

    The file must be UTF-8 TOML of at most `MAX_SETTINGS_BYTES`; anything else (binary data,
    nesting thousands deep) is a SettingsError too, never a traceback.
    """
    path = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SETTINGS_BYTES + 1)
    except FileNotFoundError:
        raise SettingsError(path, None, "no such file") from None
    except OSError as exc:
        raise SettingsError(path, None, exc.strerror or str(exc)) from None
    if len(raw) > MAX_SETTINGS_BYTES:
        raise SettingsError(path, None, f"larger than {MAX_SETTINGS_BYTES // 1000**2} MB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start]
        raise SettingsError(
            path, None, f"not UTF-8 text: byte 0x{byte:02x} on line {line}"
        ) from None
    if "\x00" in text:
        raise SettingsError(path, None, "not a text file (it holds NUL bytes)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(path, None, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise SettingsError(path, None, "not valid TOML: nested too deeply") from None
    return settings_from_dict(data, path)


def settings_from_dict(data: dict[str, Any], path: str = "<settings>") -> Settings:
    try:
        return Settings.model_validate({**data, "path": path})
    except RecursionError:
        raise SettingsError(path, None, "values nested too deeply") from None
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
