"""Markdown to HTML that is safe to show: Python-Markdown renders, nh3 keeps only an allow-list.

Markdown lets authors write raw HTML, so rendering alone is not enough: everything goes through
``nh3.clean`` with the tags, attributes and URL schemes below. No ``style``, no event handlers,
no ``javascript:`` / ``data:`` URLs, no SVG, forms or frames.
"""

from __future__ import annotations

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe

from portal.text import html_to_text

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "dl", "dt", "dd", "a", "table", "thead", "tbody", "tr", "th", "td", "abbr", "sup", "sub",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> SafeString:
    html = markdown_lib.markdown(text or "", extensions=["extra", "sane_lists"], output_format="html")
    return mark_safe(sanitise_html(html))  # noqa: S308 - sanitised by nh3 just above


def render_markdown_text(text: str) -> str:
    """The same Markdown as readable plain text (the text part of an email): no ``**``, links as "text (url)"."""
    return html_to_text(render_markdown(text))


def sanitise_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
