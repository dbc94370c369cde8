"""A feed with more new entries than `fetch.max_entries`: each poll takes up to the cap, the rest
follow at the next polls, and every entry is delivered once."""

from __future__ import annotations

import json
import random
from pathlib import Path

from support.localsite import LocalSite
from support.pages import ago, article_page, rss
from support.runner import base_settings, run_crawler

ENTRIES, CAP = 25, 10
WORDS = [
    "harbour",
    "freighter",
    "customs",
    "quay",
    "manifest",
    "cargo",
    "insurer",
    "broker",
    "charter",
    "route",
    "port",
    "ferry",
    "storm",
    "grain",
    "tanker",
    "pilot",
    "crane",
    "berth",
    "convoy",
    "patrol",
    "tariff",
    "permit",
    "ledger",
    "dock",
    "anchor",
]


def story(i: int) -> list[str]:
    """Four paragraphs of text no other story shares."""
    rng = random.Random(i)
    return [f"Story {i}: " + " ".join(rng.choice(WORDS) for _ in range(40)) + "." for _ in range(4)]


def queued(tmp_path: Path) -> list[dict]:
    new = tmp_path / "out" / "queue" / "new"
    return [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]


def test_entries_beyond_the_cap_arrive_at_the_next_polls_once_each(
    site: LocalSite, tmp_path: Path
) -> None:
    entries = []
    for i in range(ENTRIES):
        site.route(f"/s/{i}.html", article_page(f"Story {i}", story(i)))
        entries.append(
            {
                "title": f"Story {i}",
                "link": site.url(f"/s/{i}.html"),
                "guid": f"g{i}",
                "published": ago(1),
            }
        )
    site.route("/feed.xml", rss("Wire", entries), "application/rss+xml", headers={"ETag": '"v1"'})
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        base_settings(tmp_path, site)
        + f"max_entries = {CAP}\n"
        + f'[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    )

    counts = []
    for _ in range(5):
        site.clear_log()
        result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        pages = [p for p, _ in site.requests() if p.startswith("/s/")]
        assert len(pages) == len(set(pages)) <= CAP  # no page twice, never more than the cap
        polls = [h for p, h in site.requests() if p == "/feed.xml"]
        counts.append((len(pages), "If-None-Match" in polls[0]))
    # 10, 10 and 5 new pages; a capped poll keeps no ETag, so the next one is answered in full;
    # the first poll with nothing new keeps it, and the one after is conditional
    assert counts == [(10, False), (10, False), (5, False), (0, False), (0, True)], counts

    titles = sorted(item["title"] for item in queued(tmp_path))
    assert titles == sorted(f"Story {i}" for i in range(ENTRIES))
