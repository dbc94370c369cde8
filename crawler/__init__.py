"""crawler: a news crawler and feed monitor.

It polls feeds and crawls sites, cleans each article to its text, keeps the ones that match the
user's topics, drops duplicates and writes every new item as one JSON file into a queue folder.
"""

__version__ = "0.1.0"
