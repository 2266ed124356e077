"""Build output colours become HTML only after the text is escaped, in colours that stay readable."""

import re
from pathlib import Path

from deployments.web.ansi import plain, to_html

CSS = Path(__file__).resolve().parent.parent / "static" / "bartender.css"


def test_it_escapes_markup_before_adding_its_own():
    html = to_html('<script>alert("x")</script> & <b>')
    assert html == '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;'


def test_it_turns_sgr_colours_and_bold_into_spans_and_closes_them():
    html = to_html("\x1b[1;32mok\x1b[0m then \x1b[31mred")
    assert html == '<span class="a-b a-f2">ok</span> then <span class="a-f1">red</span>'


def test_it_keeps_bright_and_background_colours_and_the_first_sixteen_of_256():
    assert to_html("\x1b[93;44mx") == '<span class="a-f11 a-g4">x</span>'
    assert to_html("\x1b[38;5;9my\x1b[38;5;200mz") == '<span class="a-f9">y</span>z'
    assert to_html("\x1b[38;2;1;2;3mtrue colour") == "true colour"


def test_escape_sequences_cannot_smuggle_markup_into_the_class_attribute():
    html = to_html('\x1b[31;"><img src=x onerror=alert(1)>m text')
    assert "<img" not in html
    assert "&lt;img" in html


def test_it_drops_other_escape_sequences_and_control_bytes():
    assert to_html("a\x1b[2Kb\x1b]0;title\x07c\x08d") == "abcd"
    assert plain("\x1b[1mbold\x1b[0m \x1b[Kdone") == "bold done"


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _css_colour(css: str, selector: str, prop: str) -> str:
    return re.search(re.escape(selector) + r" \{[^}]*?\b" + prop + r":(#[0-9a-f]{6})", css).group(1)


def test_every_normal_ansi_colour_passes_aa_on_the_blue_background():
    css = CSS.read_text()
    blue = _luminance(_css_colour(css, ".a-g4", "background"))
    for n in (1, 2, 3, 5, 6, 7):
        fg = _luminance(_css_colour(css, f".a-f{n}", "color"))
        assert (max(fg, blue) + 0.05) / (min(fg, blue) + 0.05) >= 4.5, n
