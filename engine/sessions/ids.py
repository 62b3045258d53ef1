"""Session ids: UUIDv7 (RFC 9562) in hex, so that they sort by creation time.

The store's primary-key index on the session id, and the log's on (session id, line), grow at
their right edge with such ids, instead of at a random leaf page per new session as with uuid4,
which SQLite reads back from the file once the indexes outgrow its page cache
(docs/field-notes.md, SQLite).
74 random bits keep an id unguessable.
"""

from __future__ import annotations

import os
import time

_VERSION_7 = 0x7 << 76
_VARIANT = 0b10 << 62


def new_session_id() -> str:
    """32 hex digits: 48 bits of Unix milliseconds, the version, 74 random bits, the variant."""
    milliseconds = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")
    value = (
        (milliseconds & (2**48 - 1)) << 80
        | _VERSION_7
        | (random_bits >> 62 & 0xFFF) << 64
        | _VARIANT
        | random_bits & (2**62 - 1)
    )
    return f"{value:032x}"
