"""Build output with ANSI colours, shown as HTML: escape first, then turn SGR codes into spans.

The text is escaped before any markup is added, so a log line can never inject HTML; only
the spans this module writes (with fixed class names) reach the page. Escape sequences other
than colours and weights (cursor moves, erase line) are dropped.
"""

from __future__ import annotations

import re
from html import escape

from django.utils.safestring import SafeString, mark_safe

# CSI sequences: ESC [ params final-byte. Only final byte "m" (SGR) changes the style.
_CSI = re.compile(r"\x1b\[([0-9;?]*)([@-~])")
# Anything else starting with ESC (OSC titles, charset switches) and stray control bytes.
_OTHER = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()][0-9A-Za-z]|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")

_FLAGS = {1: "b", 2: "dim", 3: "i", 4: "u"}
_FLAG_OFF = {21: ("b",), 22: ("b", "dim"), 23: ("i",), 24: ("u",)}


class _Style:
    def __init__(self) -> None:
        self.fg: int | None = None
        self.bg: int | None = None
        self.flags: set[str] = set()

    def classes(self) -> str:
        names = sorted(f"a-{flag}" for flag in self.flags)
        if self.fg is not None:
            names.append(f"a-f{self.fg}")
        if self.bg is not None:
            names.append(f"a-g{self.bg}")
        return " ".join(names)

    def apply(self, params: list[int]) -> None:
        i = 0
        while i < len(params):
            code = params[i]
            if code == 0:
                self.fg, self.bg, self.flags = None, None, set()
            elif code in _FLAGS:
                self.flags.add(_FLAGS[code])
            elif code in _FLAG_OFF:
                self.flags.difference_update(_FLAG_OFF[code])
            elif 30 <= code <= 37:
                self.fg = code - 30
            elif 90 <= code <= 97:
                self.fg = code - 90 + 8
            elif code == 39:
                self.fg = None
            elif 40 <= code <= 47:
                self.bg = code - 40
            elif 100 <= code <= 107:
                self.bg = code - 100 + 8
            elif code == 49:
                self.bg = None
            elif code in (38, 48):
                # 256-colour and true-colour: keep the first 16 of the palette, skip the rest.
                mode = params[i + 1] if i + 1 < len(params) else None
                if mode == 5 and i + 2 < len(params):
                    index = params[i + 2] if params[i + 2] < 16 else None
                    if code == 38:
                        self.fg = index
                    else:
                        self.bg = index
                    i += 2
                elif mode == 2:
                    if code == 38:
                        self.fg = None
                    else:
                        self.bg = None
                    i += 4
            i += 1


def to_html(text: str) -> SafeString:
    """One line of output as safe HTML with `a-*` classes for its colours and weights."""
    escaped = escape(text, quote=False)
    style = _Style()
    parts: list[str] = []
    open_span = False
    position = 0
    for match in _CSI.finditer(escaped):
        parts.append(_OTHER.sub("", escaped[position : match.start()]))
        position = match.end()
        if match.group(2) != "m":
            continue
        raw = match.group(1).replace("?", "")
        params = [int(p) if p.isdigit() else 0 for p in raw.split(";")] if raw else [0]
        style.apply(params)
        if open_span:
            parts.append("</span>")
            open_span = False
        classes = style.classes()
        if classes:
            parts.append(f'<span class="{classes}">')
            open_span = True
    parts.append(_OTHER.sub("", escaped[position:]))
    if open_span:
        parts.append("</span>")
    return mark_safe("".join(parts))  # noqa: S308 - escaped above; only our own spans added


def plain(text: str) -> str:
    """The line without any escape sequence (for the raw download and titles)."""
    return _OTHER.sub("", _CSI.sub("", text))
