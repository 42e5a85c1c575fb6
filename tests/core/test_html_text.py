"""html_to_text: readable text from HTML mail bodies."""

from __future__ import annotations

import pytest

from mailbot.core.html_text import html_to_text


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("plain words", "plain words", id="no-tags"),
        pytest.param("<p>One</p><p>Two</p>", "One\n\nTwo", id="paragraphs"),
        pytest.param("<div>One</div><div>Two</div>", "One\nTwo", id="divs"),
        pytest.param("a<br>b<br/>c<br><br>d", "a\nb\nc\n\nd", id="br"),
        pytest.param("<h1>Title</h1>text", "Title\n\ntext", id="heading"),
        pytest.param(
            "<ul><li>one</li><li>two<ul><li>deep</li></ul></li></ul>after",
            "- one\n- two\n  - deep\n\nafter",
            id="lists",
        ),
        pytest.param(
            '<a href="https://x.pl/faq">FAQ</a>', "FAQ (https://x.pl/faq)", id="link-with-text"
        ),
        pytest.param('<a href="https://x.pl/">x.pl</a>', "x.pl", id="link-text-is-url"),
        pytest.param('<a href="mailto:a@x.pl">a@x.pl</a>', "a@x.pl", id="mailto-same"),
        pytest.param('<a href="https://x.pl/"></a>', "https://x.pl/", id="link-without-text"),
        pytest.param('<a href="#top">top</a>', "top", id="anchor-link"),
        pytest.param(
            "<style>p {color: red}</style><script>alert(1)</script><p>seen</p>",
            "seen",
            id="script-style-dropped",
        ),
        pytest.param(
            "<html><head><title>T</title></head><body>body</body></html>", "body", id="title"
        ),
        pytest.param("<head><title>unclosed<body>still here", "still here", id="unclosed-title"),
        pytest.param("Za&#380;&oacute;&#322;&#263; &amp; &lt;x&gt;", "Zażółć & <x>", id="entities"),
        pytest.param("a  \n\t b&nbsp;&nbsp;c", "a b c", id="whitespace-collapsed"),
        pytest.param("<pre>  x\n    y</pre>", "x\n    y", id="pre-keeps-spaces"),
        pytest.param(
            "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>",
            "a b\nc",
            id="table",
        ),
        pytest.param("<p>a</p><p></p><p></p><p>b</p>", "a\n\nb", id="one-blank-line-at-most"),
        pytest.param('<img src="x.png" alt="Logo"> text', "Logo text", id="img-alt"),
        pytest.param("<!-- hidden -->shown", "shown", id="comment"),
        pytest.param("<![if mso]>odd<![endif]> text", "odd text", id="broken-declaration"),
        pytest.param(
            "<p>unclosed <b>tags <i>everywhere", "unclosed tags everywhere", id="unclosed"
        ),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected
