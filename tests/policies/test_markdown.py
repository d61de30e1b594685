from __future__ import annotations

import pytest

from policies.markdown import render_markdown

XSS_VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<body onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    '<a href=" javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "![x](javascript:alert(1))",
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    "<svg><script>alert(1)</script></svg>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<div style="position:fixed;top:0">overlay</div>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="evil.swf"></object>',
    '<embed src="evil.swf">',
    '<form action="https://evil.example"><input name="password"></form>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="vbscript:msgbox(1)">x</a>',
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    '<base href="https://evil.example/">',
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<style>body{display:none}</style>",
    '<details open ontoggle="alert(1)">x</details>',
    '<p onclick="alert(1)" onmouseover="alert(1)">hover</p>',
    "<!-- <script>alert(1)</script> -->",
    '<a href="https://ok.example" onclick="alert(1)" target="_blank">ok</a>',
]

FORBIDDEN = ["<script", "onerror", "onload", "onclick", "onmouseover", "ontoggle", "javascript:", "vbscript:",
             "data:", "<svg", "<iframe", "<object", "<embed", "<form", "<input", "<meta", "<base", "<link",
             "<style", "style=", "<math"]  # fmt: skip


@pytest.mark.parametrize("vector", XSS_VECTORS)
def test_it_removes_active_content(vector):
    html = str(render_markdown(vector)).lower()
    for needle in FORBIDDEN:
        assert needle not in html, f"{needle!r} survived in {html!r}"


def test_it_keeps_ordinary_markdown():
    html = str(render_markdown("## Why\n\n1. **Use** webmail\n2. [Portal](https://portal.example/)\n\n`code`"))
    assert "<h2>Why</h2>" in html
    assert "<ol>" in html and "<strong>Use</strong>" in html and "<code>code</code>" in html
    assert 'href="https://portal.example/"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_it_keeps_mailto_links_and_tables():
    html = str(render_markdown("[IT](mailto:it@example.com)\n\n| a | b |\n|---|---|\n| 1 | 2 |"))
    assert 'href="mailto:it@example.com"' in html
    assert "<table>" in html and "<td>1</td>" in html


def test_the_policy_page_shows_the_sanitised_body(client, login, employee):
    from policies.models import Policy

    policy = Policy.objects.create(
        title="XSS", summary="s", body='Hi <img src=x onerror="alert(1)"> <script>x()</script>'
    )
    policy.publish(by=None, require_acknowledgement=True)
    login(client, employee)
    body = client.get(f"/policies/{policy.pk}/").content.decode()
    assert "onerror" not in body and "<script>x()" not in body
    assert "Hi" in body
