"""`crawler demo`: the whole job, offline, against a small bundled news site.

Three fictional outlets on 127.0.0.1: an RSS feed, an Atom feed and a section page with no feed.
The pages carry real-world junk (navigation, cookie banners, share buttons, inline premium-link
scripts, store links, related-article lists); one wire story runs on two outlets under different
URLs; one article is off-topic. The demo runs a pass, shows the clean items, then runs a second
pass to show that nothing is delivered twice.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from crawler.alerts.sender import Sender
from crawler.alerts.transports import FileTransport
from crawler.config import Settings, settings_from_dict
from crawler.crawl import PassSummary, crawl_once, run_in_reactor
from crawler.demo.server import DemoSite
from crawler.queue import Queue
from crawler.state import State

DEMO_TOPIC = {
    "name": "caspian-arms",
    "query": 'Caspian AND (drone* OR "artillery shells" OR ammunition OR munitions OR weapons)',
    "alert": {"to": ["desk@example.org"], "mode": "digest", "every": "1h"},
}


def demo_settings(site: DemoSite, output: Path) -> Settings:
    """Settings that point crawler at the demo site."""
    base = site.base_url
    return settings_from_dict(
        {
            "output": {"dir": str(output)},
            "fetch": {"allow_hosts": [site.host], "delay": "0s", "max_age": "2d"},
            "feeds": [
                {"url": f"{base}/caspian-courier/rss.xml"},
                {"url": f"{base}/steppe-herald/atom.xml"},
            ],
            "sites": [
                {
                    "name": "Harbor Wire",
                    "start": [f"{base}/harbor-wire/world/"],
                    "allow": [r"/harbor-wire/world/\d{4}/"],
                    "depth": 1,
                }
            ],
            "topics": [DEMO_TOPIC],
        },
        path="<demo>",
    )


def run_demo(
    output: Path, out: TextIO, serve: Callable[[Settings], None] | None = None
) -> tuple[PassSummary, PassSummary]:
    """Serve the site, run two passes into `output` (emptied first), report to `out`; then, if
    given, `serve(settings)` runs while the site is still up (the web app, until Ctrl-C)."""
    if output.exists():
        shutil.rmtree(output)
    with DemoSite() as site:
        config = demo_settings(site, output)
        print(f"Demo news site: {site.base_url}/  (3 outlets, 2 feeds, 1 section page)", file=out)
        print(f"Topic {DEMO_TOPIC['name']!r}: {DEMO_TOPIC['query']}\n", file=out)

        async def two_passes() -> tuple[PassSummary, PassSummary, Path | None]:
            first, second = await crawl_once(config), await crawl_once(config)
            with State(config.output.state_path) as state:
                transport = FileTransport(config.output.mail_dir)
                await Sender(config, state, transport).send_due(flush=True)  # the digest, now
            return first, second, transport.last_path

        first, second, digest = run_in_reactor(two_passes)
        _report(config, first, second, out)
        print(f"Alert digest for desk@example.org: {digest}", file=out)
        if serve is not None:
            out.flush()
            serve(config)
    return first, second


def _report(config: Settings, first: PassSummary, second: PassSummary, out: TextIO) -> None:
    queue = Queue(config.output.queue_dir)
    files = queue.files("new")
    print(f"Pass 1: {first}", file=out)
    print(f"\n{len(files)} item(s) in {queue.new}/:", file=out)
    for queued in files:
        item = queued.read()
        print(f"  {queued.path.name}", file=out)
        print(f"      {item['title']}  ({item['source']['name']})", file=out)
    with State(config.output.state_path) as state:
        for queued in files:
            item = queued.read()
            for url, outlet in state.also_reported(item["id"]):
                print(f"\nThe same story ran on {outlet} ({url}):", file=out)
                print(
                    f"  queued once, as {item['id']}, with {outlet} recorded as also reporting it.",
                    file=out,
                )
    if files:
        item = files[0].read()
        print(f"\nClean text of {item['id']} ({item['url']}):\n", file=out)
        for paragraph in item["text"].split("\n")[:3]:
            print(textwrap.indent(textwrap.fill(paragraph, 92), "  ") + "\n", file=out)
        print("  …\n", file=out)
        terms = ", ".join(t for topic in item["topics"] for t in topic["terms"])
        print(f"  matched terms: {terms}", file=out)
    print(f"\nPass 2: {second}", file=out)
    print(
        "Nothing new: every entry and page was already seen."
        if second.queued == 0
        else f"Pass 2 queued {second.queued} more item(s).",
        file=out,
    )
    print(f"\nState database: {config.output.state_path}", file=out)


__all__ = ["DEMO_TOPIC", "demo_settings", "run_demo"]
