"""Snowball stemming for topics with ``stem = true``, in the article's language."""

from __future__ import annotations

import threading

import Stemmer

# ISO 639-1 code -> Snowball algorithm name.
_SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "eo": "esperanto", "es": "spanish", "et": "estonian",
    "eu": "basque", "fa": "persian", "fi": "finnish", "fr": "french", "ga": "irish",
    "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "nb": "norwegian", "ne": "nepali", "nl": "dutch", "nn": "norwegian",
    "no": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "st": "sesotho", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}  # fmt: skip
DEFAULT_STEM_LANGUAGE = "en"
STEM_CACHE_SIZE = 200_000
_ALGORITHMS = frozenset(Stemmer.algorithms())
_local = threading.local()
_stems: dict[str, dict[str, str]] = {}  # language -> token -> stem, shared by all threads


def stem_language(lang: str) -> str:
    """The ISO 639-1 code whose stemmer applies to an article in `lang` (English if unknown)."""
    code = lang.strip().lower().replace("_", "-").split("-")[0]
    known = code in _SNOWBALL and _SNOWBALL[code] in _ALGORITHMS
    return code if known else DEFAULT_STEM_LANGUAGE


def stem_tokens(tokens: list[str], lang: str) -> list[str]:
    """Stem normalised tokens with the Snowball stemmer of `lang` (a :func:`stem_language`).

    Stems are remembered per language (up to STEM_CACHE_SIZE tokens), as the words of news
    articles repeat a lot.
    """
    cache = _stems.setdefault(lang, {})
    missing = [token for token in set(tokens) if token not in cache]
    if missing:
        stemmers: dict[str, Stemmer.Stemmer] = _local.__dict__.setdefault("stemmers", {})
        stemmer = stemmers.get(lang)
        if stemmer is None:  # Stemmer objects are not thread-safe: one per thread and language
            stemmer = stemmers[lang] = Stemmer.Stemmer(_SNOWBALL[lang])
        if len(cache) + len(missing) > STEM_CACHE_SIZE:
            cache = _stems[lang] = {}  # a new dict: other threads keep reading the old one
        cache.update(zip(missing, stemmer.stemWords(missing), strict=True))
    return list(map(cache.__getitem__, tokens))
