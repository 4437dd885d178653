"""The model's HTML, made safe to open: an allow-list sanitiser (nh3, the Python binding of
ammonia) keeps document structure and drops everything that can act.

`qwenvl html` answers are untrusted text: a page can carry (or the model can be talked into
writing) `<script>`, `onerror=` handlers, `javascript:` links, iframes, or styles that fetch
`url(...)`. Kept: headings, paragraphs, lists, tables (with spans), inline emphasis, code, quotes,
links to http(s)/mailto, and `class`/`title`/`data-*` attributes (the model's `data-bbox`).
Dropped: every other element and attribute, including `style` and `img` (an image URL is a
request made the moment the page opens). The export also carries a Content-Security-Policy
that forbids scripts and remote loads, a second wall should a sanitiser ever miss something.
"""

from __future__ import annotations

import nh3

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd",
        "del", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "section", "small",
        "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
_COMMON = {"class", "title", "lang", "dir"}
ALLOWED_ATTRIBUTES = {
    "*": _COMMON,
    "a": _COMMON | {"href"},
    "td": _COMMON | {"colspan", "rowspan", "headers", "align"},
    "th": _COMMON | {"colspan", "rowspan", "headers", "scope", "align"},
    "col": _COMMON | {"span"},
    "colgroup": _COMMON | {"span"},
    "ol": _COMMON | {"start", "type", "reversed"},
    "li": _COMMON | {"value"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

# scripts and remote loads are refused by the browser even if markup got through
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"


def sanitise_html(markup: str) -> str:
    """`markup` with only the allow-listed elements, attributes and URL schemes left."""
    return nh3.clean(
        markup,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        generic_attribute_prefixes={"data-"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
