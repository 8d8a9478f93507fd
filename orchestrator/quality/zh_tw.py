"""Simplified -> Traditional (Taiwan, with Taiwanese phrases) via OpenCC's ``s2twp`` config.

Scoring converts the whole transcript at once (``to_zh_tw``; quality.pipeline, `orch itn
--zh-tw`). ``StreamConverter`` converts a stream chunk by chunk for a caller that shows text
as it arrives: it converts the *accumulated* raw text on every chunk and emits only the new
part that is stable (text up to the last punctuation or whitespace, whose conversion is also
a prefix of the conversion of everything so far); ``finish()`` converts the whole text and
emits the rest, so the final text is always ``to_zh_tw(whole raw text)``. No orch command
shows a stream live today: orch scores finished transcripts, and only the tests use it.
"""

from __future__ import annotations

import functools
import re

CONFIG = "s2twp"


@functools.lru_cache(maxsize=4)
def _converter(config: str = CONFIG):
    import opencc  # the official OpenCC binding (PyPI "opencc"); lazy: seconds to load, and `orch run --help` imports this module

    return opencc.OpenCC(config)


def to_zh_tw(text: str, config: str = CONFIG) -> str:
    """The whole text in Traditional Chinese as written in Taiwan (s2twp by default)."""
    return _converter(config).convert(text) if text else text


# a place where no OpenCC phrase crosses: punctuation (ASCII and full-width) or whitespace
_BOUNDARY = re.compile(r"[\s,.!?;:，。！？；：、…）)」』】\]]")


class StreamConverter:
    """Convert a stream chunk by chunk without letting the chunking change the result.

    >>> s = StreamConverter(); s.feed("这个软"); s.feed("件很好。下"); s.finish()
    """

    def __init__(self, config: str = CONFIG) -> None:
        self.config = config
        self.raw = ""
        self.emitted = ""

    def feed(self, chunk: str) -> str:
        """Add raw text; return the newly stable converted text (possibly "")."""
        self.raw += chunk
        cut = 0
        for m in _BOUNDARY.finditer(self.raw):
            cut = m.end()
        if cut == 0:
            return ""
        stable = to_zh_tw(self.raw[:cut], self.config)
        whole = to_zh_tw(self.raw, self.config)
        if not whole.startswith(stable) or not stable.startswith(self.emitted):
            return ""  # hold back: the boundary is not a safe one for this text
        new, self.emitted = stable[len(self.emitted) :], stable
        return new

    def finish(self) -> str:
        """Return the rest; afterwards ``self.text`` is the conversion of the whole stream."""
        whole = self.text
        if whole.startswith(self.emitted):
            new = whole[len(self.emitted) :]
        else:  # cannot happen with the checks in feed(); the final text still wins
            new = whole
        self.emitted = whole
        return new

    @property
    def text(self) -> str:
        return to_zh_tw(self.raw, self.config)
