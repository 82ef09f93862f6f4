"""Split streamed text into sentences, so speech can start with the first one."""

import re

_END = re.compile(r"[.!?…]+[\"')\]]*\s+")
# Short fragments ("Dr. ", "e.g. ") would sound choppy on their own.
MIN_CHARS = 24


class SentenceSplitter:
    def __init__(self):
        self.buffer = ""

    def feed(self, chunk):
        """Add streamed text; return the sentences it completed."""
        self.buffer += chunk
        sentences = []
        start = 0
        for match in _END.finditer(self.buffer):
            candidate = self.buffer[start : match.end()].strip()
            if len(candidate) >= MIN_CHARS:
                sentences.append(candidate)
                start = match.end()
        self.buffer = self.buffer[start:]
        return sentences

    def flush(self):
        rest, self.buffer = self.buffer.strip(), ""
        return [rest] if rest else []
