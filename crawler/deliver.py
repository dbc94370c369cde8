"""`crawler deliver URL`: the way back for a story wrongly merged into another.

The page goes through the same crawl as every other (`crawl.run_pass`, with a spider that
requests only this URL: the address guard, robots.txt and politeness apply), is extracted,
matched against the topics and queued with its alert rows, whatever the duplicate verdict;
that verdict is kept in its trail as overridden. A URL that was queued already is left alone.

    result = run_in_reactor(lambda: deliver_url(config, "https://example.org/a.html"))
    result.action   # "queued", "already-queued" or "not-queued"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crawler import trail
from crawler.cluster import report_state
from crawler.config import Settings
from crawler.crawl import run_pass, scrapy_settings
from crawler.dedup import content_hash
from crawler.explain import explain
from crawler.items import Page, Rejected
from crawler.pipelines import DedupPipeline


@dataclass(frozen=True, slots=True)
class Delivery:
    action: str  # "queued", "already-queued" or "not-queued"
    trail: dict[str, Any] | None  # the page's decision trail after it (crawler/explain.py)

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "trail": self.trail}


class ForcedDedupPipeline(DedupPipeline):
    """The duplicate check of `crawler deliver`: the verdict is recorded, not obeyed."""

    def process_item(self, page: Page) -> Page:
        try:
            return super().process_item(page)
        except Rejected as rejected:
            if not page.forced or rejected.outcome not in trail.DUPLICATE_OUTCOMES:
                raise
            assert page.article is not None
            page.trail["duplicate"] = trail.duplicate_verdict(rejected, overridden=True)
            page.content_hash = page.content_hash or content_hash(page.article.text)
            return page


def _lookup(config: Settings, url: str) -> dict[str, Any] | None:
    with report_state(config) as state:
        return explain(state, url)


async def deliver_url(config: Settings, url: str) -> Delivery:
    """Fetch, extract, match and queue the page at `url` (see the module's docstring)."""
    before = _lookup(config, url)
    if before is not None and before["outcome"] == "queued":
        return Delivery("already-queued", before)
    pipelines = dict(scrapy_settings(config)["ITEM_PIPELINES"])
    order = pipelines.pop("crawler.pipelines.DedupPipeline")
    pipelines["crawler.deliver.ForcedDedupPipeline"] = order
    await run_pass(config, {"CRAWLER_DELIVER_URL": url, "ITEM_PIPELINES": pipelines})
    after = _lookup(config, url)
    queued = after is not None and after["outcome"] == "queued"
    return Delivery("queued" if queued else "not-queued", after)
