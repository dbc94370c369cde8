"""The `crawler` command: parse arguments, call the package, print. Nothing else lives here.

Exit codes: 0 done, 1 a runtime error, 2 a usage or settings error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler import __version__, logs
from crawler.errors import CrawlerError, SettingsError
from crawler.printable import escaped, escaped_json

if TYPE_CHECKING:
    from crawler.config import FeedSource, Settings, Source

# Each command imports what it needs when it runs: `crawler check` needs no Scrapy, and the
# extraction workers, which import this module as their main module when they start, stay small.

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    logs.configure(verbose=args.verbose, json_lines=args.log_format == "json")
    try:
        code: int = args.handler(args)
    except SettingsError as exc:
        print(f"crawler: settings error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CrawlerError as exc:
        print(f"crawler: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except sqlite3.Error as exc:  # e.g. the disk holding the output folder is full
        print(f"crawler: state database: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("crawler: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`crawler queue ls | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crawler", description="News crawler and feed monitor: clean, on-topic articles, once."
    )
    parser.add_argument("--version", action="version", version=f"crawler {__version__}")
    parser.add_argument(
        "--settings",
        metavar="PATH",
        help="settings file (default: $CRAWLER_SETTINGS or settings/crawler.toml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text (default) or one JSON object each",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    def group(name: str, help: str) -> Any:
        """A command with actions of its own; without one it prints its usage and exits 2."""
        sub = commands.add_parser(name, help=help, description=help)

        def usage(args: argparse.Namespace) -> int:
            sub.print_usage(sys.stderr)
            return EXIT_USAGE

        sub.set_defaults(handler=usage)
        return sub.add_subparsers(title=f"{name} commands", metavar="ACTION")

    demo = command(
        "demo", _demo, "serve the bundled news site on 127.0.0.1 and run crawler against it"
    )
    demo.add_argument(
        "--serve", action="store_true", help="then keep the site and the web app up until Ctrl-C"
    )
    demo.add_argument("--port", type=int, default=None, help="the web app's port (--serve)")
    serve = command("serve", _serve, "the read-only web app: pages, Atom feeds, API, metrics")
    serve.add_argument("--host", help="address to listen on (default: [web] host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: [web] port, 8080)")
    command("once", _once, "one pass over every source, then exit (for cron)")
    command("run", _run, "the daemon: poll every source on its schedule until stopped")
    topic_commands = group("topics", "try topic queries")
    topic_test = topic_commands.add_parser(
        "test",
        help="does QUERY match a page, a file or standard input, and why",
        description="Does QUERY match, and why: the terms found, a snippet, and for a miss the "
        "clause that failed. Exit 0 on a match, 1 otherwise.",
    )
    topic_test.add_argument("query")
    topic_test.add_argument("source", nargs="?", help="a URL, an HTML or text file, or - for stdin")
    topic_test.add_argument(
        "--recent",
        metavar="DURATION",
        help="list the recently fetched articles QUERY matches, e.g. 7d",
    )
    topic_test.add_argument("--stem", action="store_true", help="match Snowball word stems")
    topic_test.add_argument(
        "--min-count", type=int, default=1, metavar="N", help="a term counts when it occurs N times"
    )
    topic_test.set_defaults(handler=_topics_test)
    alert_commands = group("alerts", "keyword alerts (email, chat, webhooks)")
    alert_test = alert_commands.add_parser(
        "test", help="send one sample alert for TOPIC to each of its recipients"
    )
    alert_test.add_argument("topic")
    alert_test.set_defaults(handler=_alerts_test)
    repair = command("repair", _repair, "rebuild a damaged state database from the queue folder")
    repair.add_argument("--force", action="store_true", help="rebuild even if it looks sound")
    status = command("status", _status, "per-source health, queue depth, daemon")
    status.add_argument("--json", action="store_true", help="print the report as JSON")
    command("check", _check, "validate the settings and print what they say")
    explain = command("explain", _explain, "why a URL was queued or dropped: its whole path")
    explain.add_argument("url")
    explain.add_argument("--json", action="store_true", help="print the trail as JSON")
    deliver = command(
        "deliver", _deliver, "fetch one URL and queue it even if it was merged as a duplicate"
    )
    deliver.add_argument("url")
    deliver.add_argument("--json", action="store_true", help="print the result as JSON")
    queue_commands = group("queue", "list, show and take queued items")
    ls = queue_commands.add_parser("ls", help="list the items waiting in new/")
    ls.add_argument("--all", action="store_true", help="include items already taken (cur/)")
    ls.set_defaults(handler=_queue_ls)
    show = queue_commands.add_parser("show", help="print one item")
    show.add_argument("id")
    show.set_defaults(handler=_queue_show)
    take = queue_commands.add_parser("take", help="move the oldest item to cur/ and print it")
    take.set_defaults(handler=_queue_take)
    source_commands = group("sources", "find feeds on a site; import and export OPML")
    discover = source_commands.add_parser(
        "discover",
        help="find the feeds a site offers",
        description="Find the feeds a site offers: the page's feed links, links that look like "
        "feeds, then the usual paths. Each is fetched and parsed. Exit 0 when one was found.",
    )
    discover.add_argument("url", help="a page of the site, usually its home page")
    discover.add_argument("--add", action="store_true", help="add the feeds to the settings file")
    discover.set_defaults(handler=_sources_discover)
    opml_import = source_commands.add_parser(
        "import", help="add the feeds of an OPML file (with their folders as tags) to the settings"
    )
    opml_import.add_argument("file", help="an OPML file, as feed readers export it")
    opml_import.add_argument(
        "--dry-run", action="store_true", help="show what would be added; change nothing"
    )
    opml_import.set_defaults(handler=_sources_import)
    export = source_commands.add_parser("export", help="write the settings' feeds as OPML")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not standard output")
    export.set_defaults(handler=_sources_export)
    _options_after_commands(parser)
    return parser


def _options_after_commands(parser: argparse.ArgumentParser) -> None:
    """Let `-v` and `--log-format` follow the command too (`crawler once -v`): every command's
    parser, at any depth, accepts them. Their default there is "not given", so an option written
    before the command is not undone by the command's parser."""
    seen: set[int] = set()
    todo = [parser]
    while todo:
        for action in todo.pop()._actions:
            if not isinstance(action, argparse._SubParsersAction):
                continue
            for sub in action.choices.values():
                if id(sub) in seen:
                    continue  # an alias of a parser already done
                seen.add(id(sub))
                sub.add_argument(
                    "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                    help="log debugging detail",
                )  # fmt: skip
                sub.add_argument(
                    "--log-format", choices=("text", "json"), default=argparse.SUPPRESS,
                    help="log lines as text (default) or one JSON object each",
                )  # fmt: skip
                todo.append(sub)


def _settings(args: argparse.Namespace) -> Settings:
    from crawler.config import load_settings, settings_path

    return load_settings(settings_path(args.settings))


def _has_settings(args: argparse.Namespace) -> bool:
    """Whether a settings file was given or the default one exists."""
    from crawler.config import settings_path

    return bool(args.settings) or Path(settings_path(None)).exists()


# -- commands --------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from crawler.demo import run_demo

    output = Path("output")
    if _has_settings(args):
        output = _settings(args).output.dir
    if not args.verbose:
        logging.getLogger("crawler").setLevel(logging.WARNING)  # the demo prints its own report
    if not args.serve:
        run_demo(output / "demo", sys.stdout)
        print("\nBrowse it: crawler demo --serve (the site and the web app, until Ctrl-C)")
        return EXIT_OK
    from crawler.web import serve

    def browse(config: Settings) -> None:
        port = config.web.port if args.port is None else args.port
        serve(config, port=port, announce=lambda url: print(f"\nBrowse it: {url}", flush=True))

    run_demo(output / "demo", sys.stdout, serve=browse)
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from crawler.web import serve

    serve(
        _settings(args),
        host=args.host,
        port=args.port,
        announce=lambda url: print(f"crawler web app: {url}", flush=True),
    )
    return EXIT_OK


def _once(args: argparse.Namespace) -> int:
    from crawler.crawl import crawl_once, run_in_reactor

    config = _settings(args)
    summary = run_in_reactor(lambda: crawl_once(config))
    print(summary)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from crawler.crawl import run_in_reactor
    from crawler.daemon import run_daemon

    config = _settings(args)
    run_in_reactor(lambda: run_daemon(config))
    return EXIT_OK


def _repair(args: argparse.Namespace) -> int:
    from crawler.output import repair

    print(repair(_settings(args), force=args.force))
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from crawler import status

    report = status.collect(_settings(args))
    print(json.dumps(report, indent=2) if args.json else status.render(report))
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    from crawler.cluster import report_state
    from crawler.dedup import normalize_url
    from crawler.explain import explain, render

    with report_state(_settings(args)) as state:
        trail = explain(state, args.url)
    if trail is None:
        if args.json:
            print(json.dumps({"url": normalize_url(args.url), "found": False}))
        print(
            f"crawler: nothing known about {normalize_url(args.url)}: never seen, not fetched "
            "yet, or forgotten after the retention period",
            file=sys.stderr,
        )
        return EXIT_ERROR
    print(json.dumps(trail, ensure_ascii=False, indent=2) if args.json else render(trail))
    return EXIT_OK


def _deliver(args: argparse.Namespace) -> int:
    from crawler.crawl import run_in_reactor
    from crawler.deliver import deliver_url
    from crawler.explain import render

    config = _settings(args)
    result = run_in_reactor(lambda: deliver_url(config, args.url))
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        queued = (result.trail or {}).get("queued") or {}
        if result.action == "already-queued":
            print(f"already queued as item {queued.get('item_id')}; nothing done")
        elif result.action == "queued":
            print(f"queued as item {queued.get('item_id')} (file {queued.get('file')})")
        else:
            outcome = (result.trail or {}).get("outcome", "nothing recorded")
            print(f"not queued: {outcome}")
        if result.trail is not None:
            print(render(result.trail))
    return EXIT_OK if result.action != "not-queued" else EXIT_ERROR


def _topics_test(args: argparse.Namespace) -> int:
    from crawler import archive
    from crawler.config import FetchSettings, parse_duration
    from crawler.errors import QueryError
    from crawler.topics import Matcher, Topic, check_query

    try:
        check_query(args.query)
    except QueryError as exc:
        print(f"crawler: bad query: {exc}", file=sys.stderr)
        if exc.position is not None:
            start = max(0, exc.position - 60)  # a window around the culprit, not a huge query
            shown = args.query[start : exc.position + 20]
            print(f"  {shown}\n  {' ' * (exc.position - start)}^", file=sys.stderr)
        return EXIT_USAGE
    topic = Topic("query", args.query, stem=args.stem, min_count=args.min_count)
    if args.recent:
        return _topics_recent(args, topic, parse_duration(args.recent).total_seconds())
    if not args.source:
        print("crawler: give a URL, a file or - to test on, or --recent 7d", file=sys.stderr)
        return EXIT_USAGE
    config = _settings(args) if _has_settings(args) else None
    fetch = config.fetch if config else FetchSettings()
    stdin_text = sys.stdin.read() if args.source == "-" else None
    document = archive.load_document(args.source, fetch, stdin_text)
    explanation = Matcher([topic]).explain("query", document)
    print(explanation.render())
    return EXIT_OK if explanation.matched else EXIT_ERROR


def _topics_recent(args: argparse.Namespace, topic: Any, seconds: float) -> int:
    import time

    from crawler import archive
    from crawler.state import State
    from crawler.topics.snippet import mark

    config = _settings(args)
    found = 0
    with State(config.output.state_path) as state:
        for record, match in archive.recent_matches(state, topic, time.time() - seconds):
            found += 1
            source = (record.get("source") or {}).get("name") or ""
            print(f"{record.get('fetched_at', '')[:16]}  {record.get('title')}  ({source})")
            print(f"    {record['url']}")
            terms = ", ".join(f"{t} ({n})" for t, n in match.terms.items())
            print(f"    terms: {terms}")
            print(f"    {mark(match.snippet, match.highlights)}")
    print(f"{found} recent article(s) match over the last {args.recent}", file=sys.stderr)
    return EXIT_OK if found else EXIT_ERROR


def _alerts_test(args: argparse.Namespace) -> int:
    import asyncio

    from crawler.alerts.sender import Sender
    from crawler.state import State

    config = _settings(args)
    names = [t.name for t in config.topics if t.alert is not None]
    if args.topic not in names:
        print(
            f"crawler: no topic {args.topic!r} with an alert; topics with alerts: "
            f"{', '.join(names) or 'none'}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    with State(config.output.state_path) as state:
        answers = asyncio.run(Sender(config, state).send_test(args.topic))
    for recipient, answer, delivered in answers:
        verdict = "ok" if delivered else "FAILED"
        print(f"test alert for {args.topic} to {recipient}: {verdict}: {answer}")
    return EXIT_OK if all(delivered for _, _, delivered in answers) else EXIT_ERROR


def _check(args: argparse.Namespace) -> int:
    from crawler.alerts.dispatch import shown
    from crawler.alerts.recipients import recipient_kind
    from crawler.config import format_duration, webhook_secret

    config = _settings(args)
    out = sys.stdout
    print(f"settings: {config.path} (ok)", file=out)
    for warning in _schedule_warnings(config):
        print(f"crawler: warning: {warning}", file=sys.stderr)
    print(f"output: {config.output.dir}/ (queue/, state.db)", file=out)
    fetch = config.fetch
    print(
        f"fetch: user agent {fetch.user_agent!r}, max age {format_duration(fetch.max_age)}, "
        f"{fetch.per_domain} per host, {fetch.extraction_workers} extraction workers",
        file=out,
    )
    if fetch.allow_hosts:
        print(f"  local hosts allowed: {', '.join(fetch.allow_hosts)}", file=out)
    print(f"feeds ({len(config.feeds)}):", file=out)
    for feed in config.feeds:
        print(
            f"  {feed.url}  every {format_duration(feed.every)}"
            + (f"  ({feed.name})" if feed.name else "")
            + (f"  [{', '.join(feed.tags)}]" if feed.tags else "")
        )
    print(f"sites ({len(config.sites)}):", file=out)
    for site in config.sites:
        print(
            f"  {', '.join(site.start)}  depth {site.depth}  every {format_duration(site.every)}",
            file=out,
        )
        for pattern in site.allow:
            print(f"    allow {pattern}", file=out)
        for pattern in site.deny:
            print(f"    deny  {pattern}", file=out)
    print(f"topics ({len(config.topics)}):", file=out)
    if not config.topics:
        print("  none: every new article is queued", file=out)
    for topic in config.topics:
        print(f"  {topic.name}: {topic.query}", file=out)
        if topic.alert is not None:
            alert = topic.alert
            if alert.digest_every is not None:
                when = f"digest every {format_duration(alert.digest_every)}"
            elif alert.cron:
                when = f"digest at cron {alert.cron!r} ({alert.timezone})"
            else:
                when = "immediately"
            recipients = ", ".join(shown(alert, to) for to in alert.to)
            print(f"    alert {recipients}: {when}", file=out)
            webhooks = any(recipient_kind(alert.target(to)) == "webhook" for to in alert.to)
            if webhooks and webhook_secret() is None:
                print(
                    "    webhook alerts are sent unsigned: CRAWLER_WEBHOOK_SECRET is not set",
                    file=out,
                )
    mail = config.mail
    where = (
        f"files in {config.output.mail_dir}/"
        if mail.transport == "file"
        else f"smtp {mail.host}:{mail.port} ({mail.security})"
    )
    print(f"mail: from {mail.sender} via {where}", file=out)
    return EXIT_OK


def _schedule_warnings(config: Settings) -> list[str]:
    """A line for each source whose `every` is outside [schedule.min_every, schedule.max_every],
    saying the interval used instead: the scheduler keeps every interval within those bounds
    (crawler/schedule.py)."""
    from crawler.config import format_duration

    schedule = config.schedule
    lines = []
    sections: list[tuple[str, Sequence[Source]]] = [
        ("feeds", config.feeds),
        ("sitemaps", config.sitemaps),
        ("sites", config.sites),
    ]
    for section, sources in sections:
        for index, source in enumerate(sources):
            used = min(max(source.every, schedule.min_every), schedule.max_every)
            if used == source.every:
                continue
            limit, than = (
                ("min_every", "shorter") if used > source.every else ("max_every", "longer")
            )
            lines.append(
                f"{config.path}: {section}[{index}].every: {format_duration(source.every)} is "
                f"{than} than schedule.{limit} ({format_duration(used)}); {source.key} will be "
                f"polled every {format_duration(used)}"
            )
    return lines


def _open_queue(args: argparse.Namespace) -> Any:
    from crawler.queue import Queue

    return Queue(_settings(args).output.queue_dir)


def _queue_ls(args: argparse.Namespace) -> int:
    queue = _open_queue(args)
    boxes = ("new", "cur") if args.all else ("new",)
    count = 0
    for box in boxes:
        for queued in queue.files(box):
            item = queued.read()
            topics = ",".join(t["name"] for t in item.get("topics", []))
            source = (item.get("source") or {}).get("name") or ""
            title = " ".join((item.get("title") or "(no title)").split())
            line = f"{queued.id}  {box}  {item.get('fetched_at', '')[:19]}  {source}  {title}"
            print(escaped(line + (f"  [{topics}]" if topics else "")))
            count += 1
    print(f"{count} item(s)", file=sys.stderr)
    return EXIT_OK


def _queue_show(args: argparse.Namespace) -> int:
    from crawler.cluster import report_state

    config = _settings(args)
    queued = _open_queue(args).find(args.id)
    if queued is None:
        print(f"crawler: no item {args.id} in the queue", file=sys.stderr)
        return EXIT_ERROR
    item = queued.read()
    with report_state(config) as state:  # who else ran the story, known by now
        item["also_reported"] = [
            {"url": url, "source": source} for url, source in state.also_reported(args.id)
        ]
    print(escaped_json(json.dumps(item, ensure_ascii=False, indent=2)))
    return EXIT_OK


def _queue_take(args: argparse.Namespace) -> int:
    queued = _open_queue(args).take()
    if queued is None:
        print("crawler: the queue is empty", file=sys.stderr)
        return EXIT_ERROR
    print(escaped_json(json.dumps(queued.read(), ensure_ascii=False, indent=2)))
    print(f"moved to {queued.path}", file=sys.stderr)
    return EXIT_OK


def _sources_discover(args: argparse.Namespace) -> int:
    from crawler.config import FetchSettings
    from crawler.sources.discover import COMMON_PATHS, discover

    exists = args.add or _has_settings(args)
    config = _settings(args) if exists else None
    fetch = config.fetch if config else FetchSettings()
    results = discover(
        args.url,
        user_agent=fetch.user_agent,
        allow_hosts=fetch.allow_hosts,
        timeout=fetch.timeout.total_seconds(),
        max_bytes=fetch.max_page_size,
        verify=fetch.verify_certificates,
    )
    feeds = [result for result in results if result.ok]
    for feed in feeds:
        print(f"{feed.kind:4}  {feed.url}  {feed.title or '(no title)'}  ({feed.entries} entries)")
    for failed in results:
        if not failed.ok and failed.origin != "path":
            print(f"failed  {failed.url}  {failed.error}")
    if any(r.origin == "path" for r in results) and not any(r.origin == "path" for r in feeds):
        print(f"no feed at the usual paths ({', '.join(COMMON_PATHS)})")
    print(f"{len(feeds)} feed(s) found")
    if args.add and config is not None and feeds:
        _add_feeds(config.path, [feed.as_source() for feed in feeds], dry_run=False)
    return EXIT_OK if feeds else EXIT_ERROR


def _sources_import(args: argparse.Namespace) -> int:
    from crawler.sources.opml import OpmlError, read_opml

    config = _settings(args)
    try:
        feeds = read_opml(Path(args.file).read_bytes())
    except OSError as exc:
        print(f"crawler: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except OpmlError as exc:
        print(f"crawler: {args.file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.file}: {len(feeds)} feed(s)")
    _add_feeds(config.path, [feed.as_source() for feed in feeds], dry_run=args.dry_run)
    return EXIT_OK


def _add_feeds(path: str, feeds: list[FeedSource], *, dry_run: bool) -> None:
    from crawler.sources.settings_file import add_feeds

    added = set(add_feeds(path, feeds, dry_run=dry_run))
    for feed in feeds:
        if feed.url in added:
            tags = f"  [{', '.join(feed.tags)}]" if feed.tags else ""
            print(f"{'would add' if dry_run else 'added'}  {feed.url}  {feed.name or ''}{tags}")
    verb = "would be added to" if dry_run else "added to"
    print(f"{len(added)} {verb} {path}, {len(feeds) - len(added)} already there")
    if added and not dry_run:
        print("a running `crawler run` reads them on SIGHUP", file=sys.stderr)


def _sources_export(args: argparse.Namespace) -> int:
    from crawler.sources.opml import OpmlFeed, write_opml

    config = _settings(args)
    feeds = [OpmlFeed(feed.url, feed.name, list(feed.tags)) for feed in config.feeds]
    data = write_opml(feeds, "crawler feeds")
    if args.output:
        try:
            Path(args.output).write_bytes(data)
        except OSError as exc:
            print(f"crawler: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        print(f"{len(feeds)} feed(s) written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
