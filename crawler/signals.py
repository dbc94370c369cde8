"""crawler's own Scrapy signals, sent through `crawler.signals` like Scrapy's.

crawler.signals.connect(handler, signal=source_polled)
"""

# A poll of a source ended (well or not). Arguments: source (SourceRef), next_poll_at (Unix time).
source_polled = object()

# The daemon read new settings. Argument: config (crawler.config.Settings).
settings_reloaded = object()

# Time to drop what is past its retention (the daemon sends it hourly). No arguments.
housekeeping = object()

# An item could not be delivered (a full disk, an I/O error). Argument: urls (its normalised
# URLs), so its page may be fetched again at the next poll rather than after an hour.
delivery_failed = object()
