"""Templated bulletins end to end: every bulletin of a template is its own item, and wire copies
of one of them are merged into it."""

from __future__ import annotations

import json
import random
from pathlib import Path

from support.bulletins import bulletin_families, wire_copies
from support.localsite import LocalSite
from support.pages import ago, article_page, rss
from support.runner import base_settings, run_crawler

FAMILIES = ("earthquake", "market close", "weather warning", "transit notice")


def test_every_bulletin_is_queued_once_and_wire_copies_are_merged(
    site: LocalSite, tmp_path: Path
) -> None:
    _serve_and_check(site, tmp_path, cluster="")


def test_in_cluster_mode_the_facts_are_checked_through_redis(
    site: LocalSite, tmp_path: Path, redis_url: str
) -> None:
    _serve_and_check(site, tmp_path, cluster=f'[cluster]\nredis = "{redis_url}"\n')


def _serve_and_check(site: LocalSite, tmp_path: Path, cluster: str) -> None:
    rng = random.Random(11)
    families = bulletin_families(rng, per_family=8)
    bulletins = [b for family in FAMILIES for b in families[family]]
    assert len(bulletins) >= 30
    paths = []
    for n, bulletin in enumerate(bulletins):
        path = f"/bulletins/{n}.html"
        site.route(path, article_page(bulletin.title, bulletin.text.split("\n")))
        paths.append(path)
    copied = bulletins[3]
    for n, (_kind, copy) in enumerate(wire_copies(copied, rng)[:3]):
        path = f"/wire{n}/copy.html"
        page = article_page(copy.title, copy.text.split("\n"), outlet=f"Outlet {n}")
        site.route(path, page)
        paths.append(path)
    entries = [{"title": p, "link": site.url(p), "guid": p, "published": ago(1)} for p in paths]
    site.route("/feed.xml", rss("Bulletins", entries), "application/rss+xml")
    settings = tmp_path / "crawler.toml"
    settings.write_text(
        f'{base_settings(tmp_path, site)}{cluster}[[feeds]]\nurl = "{site.url("/feed.xml")}"\n'
    )

    result = run_crawler("--settings", str(settings), "once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    new = tmp_path / "out" / "queue" / "new"
    items = [json.loads(p.read_text("utf-8")) for p in sorted(new.glob("*.json"))]
    queued = sorted(item["url"] for item in items)
    assert queued == sorted(site.url(p) for p in paths[: len(bulletins)])
    (original,) = [item for item in items if item["url"] == site.url("/bulletins/3.html")]
    shown = run_crawler("--settings", str(settings), "queue", "show", original["id"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    also = {entry["url"] for entry in json.loads(shown.stdout)["also_reported"]}
    assert also == {site.url(f"/wire{n}/copy.html") for n in range(3)}
