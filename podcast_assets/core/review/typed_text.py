"""What a person may type into a transcript: text that can be stored and shows as it is stored.

Refused, each with the reason: a lone surrogate (half of a UTF-16 pair, not a character: it cannot be written
to the database), a control character other than newline (LF, or CR as in CRLF) and tab, and the Unicode
bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), which make text display in another order
than it is stored and read.
"""

from __future__ import annotations

import unicodedata

ALLOWED_CONTROLS = frozenset("\n\r\t")
BIDI_CONTROLS = {
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
}


def text_problem(text: str) -> str | None:
    """Why `text` cannot be saved as a transcript (the first offending character and where it is), or None."""
    for position, char in enumerate(text, start=1):
        code = f"U+{ord(char):04X}"
        if "\ud800" <= char <= "\udfff":
            return (
                f"the text holds a lone surrogate ({code}) at character {position}, which is not a "
                "character; type the text around it again"
            )
        if char in BIDI_CONTROLS:
            return (
                f"the text holds a {BIDI_CONTROLS[char]} ({code}) at character {position}, which makes "
                "text show in another order than it is stored; remove it"
            )
        if unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS:
            return (
                f"the text holds the control character {code} at character {position}; only newlines "
                "and tabs are allowed"
            )
    return None
