"""Test pages and feeds of our own making, with the junk real news pages carry."""

from __future__ import annotations

import email.utils
import random
import zlib
from datetime import UTC, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from support.localsite import LocalSite

JUNK_MARKERS = (
    "innerHTML",
    "getElementById",
    "App Store",
    "Subscribe to Premium",
    "cookies",
    "Share on",
    "Related stories",
    "Buy the print edition",
)


def ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def article_page(
    title: str,
    paragraphs: list[str],
    *,
    outlet: str = "The Test Gazette",
    canonical: str | None = None,
    published: datetime | None = None,
    author: str = "Dana Reporter",
) -> str:
    published = published or ago(3)
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    canonical_tag = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)} | {escape(outlet)}</title>
<meta property="og:title" content="{escape(title)}">
<meta property="og:site_name" content="{escape(outlet)}">
<meta name="author" content="{escape(author)}">
<meta property="article:published_time" content="{published.isoformat()}">
{canonical_tag}
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "article"}});</script>
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept all cookies</button></div>
<header><nav><a href="/">Home</a> <a href="/world/">World</a> <a href="/sport/">Sport</a>
<a href="/opinion/">Opinion</a></nav></header>
<main><article>
<h1>{escape(title)}</h1>
<p class="byline">By {escape(author)}</p>
{body}
</article>
<div class="share"><a href="#">Share on X</a> <a href="#">Share on Facebook</a>
<a href="#">Share it with a friend</a></div>
<div id="linkPremium" style="display:none"></div>
<script>
document.getElementById("linkPremium").innerHTML = "<a href='/premium'>Subscribe to Premium</a>";
document.getElementById("linkPremium").style.display = "block";
</script>
<aside class="store"><a href="/store">Buy the print edition in our store</a>
<a href="/app">Get our app on the App Store</a></aside>
<section class="related"><h2>Related stories</h2><ul>
<li><a href="/world/other-1">Ministers meet to discuss grain quotas</a></li>
<li><a href="/world/other-2">Storm closes three ferry routes</a></li></ul></section>
</main><footer>Copyright 2026 {escape(outlet)}. All rights reserved.</footer>
</body></html>"""


def rss(title: str, items: list[dict[str, object]]) -> str:
    parts = []
    for item in items:
        fields = [f"<title>{escape(str(item.get('title', '')))}</title>"]
        if "link" in item:
            fields.append(f"<link>{escape(str(item['link']))}</link>")
        if "guid" in item:
            fields.append(f'<guid isPermaLink="false">{escape(str(item["guid"]))}</guid>')
        published = item.get("published")
        if isinstance(published, datetime):
            fields.append(
                f"<pubDate>{email.utils.format_datetime(published, usegmt=True)}</pubDate>"
            )
        if "summary" in item:
            fields.append(f"<description>{escape(str(item['summary']))}</description>")
        parts.append("<item>" + "".join(fields) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.invalid/</link>"
        + "".join(parts)
        + "</channel></rss>"
    )


def atom(title: str, entries: list[dict[str, object]]) -> str:
    parts = []
    for entry in entries:
        published = entry.get("published")
        updated = published.isoformat() if isinstance(published, datetime) else ""
        parts.append(
            f"<entry><title>{escape(str(entry['title']))}</title><id>{escape(str(entry['id']))}</id>"
            f'<link rel="alternate" href="{escape(str(entry["link"]))}"/>'
            + (f"<updated>{updated}</updated>" if updated else "")
            + "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title>" + "".join(parts) + "</feed>"
    )


# Article texts of our own, long enough to be articles.
CASPIAN = [
    "Two cargo ships left the port of Amirabad on Monday carrying crates that shipping records "
    "describe as machine parts, according to port officials who spoke on condition of anonymity.",
    "Satellite images taken over the following days show the vessels crossing the Caspian Sea "
    "towards Astrakhan, where military trucks were seen waiting on the quay.",
    "Analysts who follow the route say the cargo matches earlier deliveries of drones and artillery "
    "shells, a trade both governments have repeatedly denied.",
    "A spokesman for the port authority declined to comment on the manifests, saying only that "
    "all departures complied with maritime law and customs rules.",
]
WIRE = [
    "Insurers in three countries have withdrawn cover for freighters working the northern "
    "Caspian route, citing the risk of sanctions after reports of ammunition shipments.",
    "The decision leaves smaller operators without the certificates they need to enter most "
    "ports, and several have already laid up their ships for the winter season.",
    "Shipping brokers said charter rates on the route doubled within a week, while the few "
    "insured vessels were booked months ahead by state-linked companies.",
    "Officials at the regional maritime office said they were studying the decision and would "
    "publish guidance for operators before the end of the month.",
]
SITE_STORY = [
    "Customs officers at Aktau inspected a freighter for eleven hours on Thursday after a tip "
    "that its hold contained munitions bound for the other side of the Caspian.",
    "The inspection found only agricultural machinery, the customs service said in a statement, "
    "though it did not explain why the ship had been held for most of the day.",
    "Local fishermen said patrol boats had been a common sight in the harbour since the autumn, "
    "and that the port had become noticeably busier at night.",
    "The ship resumed its voyage late in the evening, according to tracking data published by a "
    "maritime monitoring service.",
]
OFF_TOPIC = [
    "The town's honey fair drew record crowds this weekend, with more than forty beekeepers "
    "selling their produce from stalls along the riverside promenade.",
    "Organisers said the warm autumn had produced an unusually dark heather honey, which sold "
    "out within the first two hours of Saturday morning.",
    "Children's workshops on candle making and a tasting competition judged by local chefs "
    "kept families in the square until well after dark.",
    "Next year's fair is planned for the same weekend, and organisers hope to add a second "
    "market day if the council agrees to close the promenade to traffic.",
]


def unique_article(path: str) -> bytes:
    """An article page whose body shares no sentence with any other page's, so no two are
    near-duplicates: random words seeded by its path (the benchmarks' pages)."""
    rng = random.Random(zlib.crc32(path.encode()))
    words = [f"w{rng.randrange(10**9)}" for _ in range(180)]
    paragraphs = "".join(f"<p>{' '.join(words[i : i + 30])}.</p>" for i in range(0, 180, 30))
    return (
        f"<html lang='en'><head><title>{path}</title></head><body><article><h1>{path}</h1>"
        f"{paragraphs}</article></body></html>"
    ).encode()


def three_stories(site: LocalSite) -> None:
    """`/feed.xml` on `site`, listing three articles that all match a Caspian topic (a1 to a3,
    one to three hours old)."""
    site.route("/a1.html", article_page("Ships cross the Caspian", CASPIAN))
    site.route("/a2.html", article_page("Freighter held at Aktau", SITE_STORY))
    site.route("/a3.html", article_page("Insurers pull cover", WIRE))
    entries = [
        {"title": f"a{n}", "link": site.url(f"/a{n}.html"), "guid": str(n), "published": ago(n)}
        for n in (1, 2, 3)
    ]
    site.route("/feed.xml", rss("Feed", entries), "application/rss+xml")
