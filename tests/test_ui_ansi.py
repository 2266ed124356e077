"""Build output colours become HTML only after the text is escaped."""

from deployments.web.ansi import plain, to_html


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
