"""In Chromium at 390 x 844, every page an employee or an executive can open: nothing scrolls sideways, no
table cell breaks a word, every link and button has a text contrast of at least 4.5:1, and every input has
an accessible name. One browser session per role walks its pages.

The checks are written here (no vendored accessibility library): the contrast is WCAG 2's relative
luminance ratio between the computed text colour and the background that shows behind it.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Device, User
from policies.models import Campaign, CampaignRun, Delivery, Policy

pytestmark = pytest.mark.e2e

PASSWORD = "demo password for the page checks"
PHONE = {"width": 390, "height": 844}

# Run in the page: returns what is wrong, as readable strings (an empty list when all is well).
CHECKS = """
() => {
  const problems = [];
  const visible = (el) => {
    // checkVisibility: not inside display:none, a closed <details>, or content-visibility: hidden
    if (!el.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true })) return false;
    const box = el.getBoundingClientRect();
    return box.width > 1 && box.height > 1;
  };
  const describe = (el) => {
    const text = (el.innerText || el.value || el.name || "").trim().slice(0, 40);
    return `${el.tagName.toLowerCase()} "${text}"`;
  };

  // 1. Nothing makes the page scroll sideways.
  if (document.documentElement.scrollWidth > window.innerWidth) {
    problems.push(`page is ${document.documentElement.scrollWidth} px wide in a ${window.innerWidth} px window`);
  }

  // 2. No table cell breaks a word over two lines or lets it stick out.
  for (const cell of document.querySelectorAll("main td, main th")) {
    // Headers of stacked tables are there for screen readers only (a 1 px box): nothing to read there.
    if (!visible(cell) || (cell.closest("thead") && !visible(cell.closest("thead")))) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    const cellBox = cell.getBoundingClientRect();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!visible(node.parentElement)) continue;
      const re = /[^\\s-]+/g; // a break after a hyphen ("sign-" / "in") is no broken word
      let match;
      while ((match = re.exec(node.textContent)) !== null) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const rects = [...range.getClientRects()].filter((r) => r.width > 0);
        const tops = new Set(rects.map((r) => Math.round(r.top)));
        if (tops.size > 1) problems.push(`word "${match[0]}" broken over lines in ${describe(cell)}`);
        for (const r of rects) {
          if (r.right > cellBox.right + 1 || r.left < cellBox.left - 1) {
            problems.push(`word "${match[0]}" sticks out of ${describe(cell)}`);
          }
        }
      }
    }
  }

  // 3. Contrast of link and button text against what shows behind it.
  const rgba = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const parts = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3] + bottom[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    const mix = (i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a;
    return [mix(0), mix(1), mix(2), a];
  };
  const background = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const colour = rgba(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] >= 1) break;
    }
    let result = [255, 255, 255, 1];  // the canvas behind everything
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const luminance = ([r, g, b]) => {
    const channel = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  for (const el of document.querySelectorAll("a, button, input[type=submit], input[type=button]")) {
    if (!visible(el) || !(el.innerText || el.value || "").trim()) continue;
    const back = background(el);
    const text = over(rgba(getComputedStyle(el).color), back);
    const [light, dark] = [luminance(text), luminance(back)].sort((x, y) => y - x);
    const ratio = (light + 0.05) / (dark + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}:1 for ${describe(el)}`);
  }

  // 4. Every input, select and textarea has an accessible name.
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (["hidden", "submit", "button", "reset", "image"].includes(el.type)) continue;
    const labelled =
      (el.getAttribute("aria-label") || "").trim() ||
      (el.getAttribute("aria-labelledby") || "")
        .split(/\\s+/)
        .some((id) => id && document.getElementById(id)?.textContent.trim()) ||
      [...(el.labels || [])].some((label) => label.textContent.trim()) ||
      (el.getAttribute("title") || "").trim();
    if (!labelled) problems.push(`no accessible name for ${el.tagName.toLowerCase()} name="${el.name}"`);
  }

  // 5. A region that scrolls can be reached by keyboard.
  for (const el of document.querySelectorAll("main *")) {
    if (el.scrollWidth > el.clientWidth + 1 && ["auto", "scroll"].includes(getComputedStyle(el).overflowX)) {
      if (el.tabIndex < 0) problems.push(`scrolling ${describe(el)} cannot be reached by keyboard`);
    }
  }
  return problems;
}
"""


def _walk(page, paths: list[str]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        response = page.goto(path)
        assert response.status == 200, path
        if problems := page.evaluate(CHECKS):
            found[path] = problems
    return found


@pytest.fixture
def demo(db):
    call_command("demo", password=PASSWORD, stdout=StringIO())
    alice = User.objects.get(email="alice@example.com")
    laptop = Device.objects.create(user=alice, name="Work laptop", kind="laptop")
    campaign = Campaign.objects.create(
        name="Devices", kind=Campaign.Kind.ATTESTATION, subject="Monthly device check", message="One question.",
        starts_at=timezone.now() - dt.timedelta(days=1),
    )  # fmt: skip
    campaign.statements.create(text="My laptop has current updates.", position=0)
    run = CampaignRun.objects.create(campaign=campaign, occurrence=timezone.now())
    for person in User.objects.filter(email__in=["alice@example.com", "ceo@example.com"]):
        Delivery.objects.create(campaign=campaign, run=run, recipient=person, occurrence=run.occurrence, status="sent")
    policy = Policy.objects.filter(state=Policy.State.PUBLISHED).order_by("pk").first()
    return {"device": laptop.pk, "attest": campaign.pk, "policy": policy.pk}


def _own_pages(ids: dict, device: int | None = None) -> list[str]:
    pages = [
        "/",
        "/policies/",
        f"/policies/{ids['policy']}/",
        f"/policies/{ids['policy']}/v1/",
        f"/policies/attest/{ids['attest']}/",
        "/accounts/tokens/",
        "/accounts/devices/",
        "/accounts/devices/new/",
        "/accounts/password/",
    ]
    if device:
        pages.append(f"/accounts/devices/{device}/")
    return pages


def test_an_employees_pages_read_well_on_a_phone(new_page, browser_sign_in, demo):
    alice = User.objects.get(email="alice@example.com")
    page = new_page(viewport=PHONE)
    found = _walk(page, ["/accounts/login/", "/accounts/password-reset/"])
    # The code step ("Cancel and start again" sits on its card)
    TOTPDevice.objects.create(user=alice, name="Phone", confirmed=True)
    browser_sign_in.password(page, alice.email, PASSWORD)
    page.wait_for_url("**/accounts/login/code/**")
    if problems := page.evaluate(CHECKS):
        found[page.url] = problems
    browser_sign_in(page, alice, password=PASSWORD)
    found.update(_walk(page, _own_pages(demo, device=demo["device"])))
    assert found == {}


def test_an_executives_pages_read_well_on_a_phone(new_page, browser_sign_in, demo):
    page = new_page(viewport=PHONE)
    browser_sign_in(page, User.objects.get(email="ceo@example.com"), password=PASSWORD)
    pages = [
        *_own_pages(demo),
        "/policies/summary/",
        "/monitoring/dnsbl/",
        "/monitoring/load/",
        "/monitoring/load/alerts/",
        "/monitoring/load/drift/",
        "/monitoring/sending/",
        "/monitoring/sending/top-senders/",
    ]
    assert _walk(page, pages) == {}


IT_PAGES = [
    "/accounts/users/", "/accounts/users/new/", "/accounts/users/import/", "/accounts/invitations/",
    "/accounts/coverage/", "/accounts/lockouts/", "/accounts/devices/all/", "/accounts/devices/settings/",
    "/accounts/devices/ca/", "/gateway/sessions/", "/accounts/settings/", "/accounts/audit/", "/policies/manage/",
    "/policies/manage/new/", "/policies/manage/library/", "/policies/reviews/", "/policies/campaigns/",
    "/policies/campaigns/new/", "/policies/procedures/", "/policies/procedures/new/", "/monitoring/dnsbl/zones/",
    "/monitoring/dnsbl/addresses/", "/monitoring/dnsbl/check/", "/monitoring/load/settings/",
    "/monitoring/sending/settings/", "/monitoring/sending/shared-mailboxes/", "/messages/", "/messages/channels/",
    "/messages/channels/new/",
]  # fmt: skip


def test_it_staff_pages_are_usable_on_a_phone(new_page, browser_sign_in, demo):
    """Not phone-first like an employee's, but usable: the same checks hold."""
    page = new_page(viewport=PHONE)
    browser_sign_in(page, User.objects.get(email="it@example.com"), password=PASSWORD)
    assert _walk(page, IT_PAGES) == {}


def test_the_menu_opens_behind_its_button_on_a_phone(new_page, browser_sign_in, demo):
    page = new_page(viewport=PHONE)
    browser_sign_in(page, User.objects.get(email="alice@example.com"), password=PASSWORD)
    menu = page.get_by_role("navigation", name="Main")
    assert not menu.is_visible()
    page.get_by_role("button", name="Menu").click()
    assert menu.is_visible()
    page.get_by_role("link", name="My tokens").click()
    page.wait_for_url("**/accounts/tokens/")


def test_a_long_last_error_reads_as_lines_not_a_column_of_words_on_a_phone(new_page, browser_sign_in, demo):
    """The outgoing messages table scrolls on a phone; its prose (an uncertain row's note) keeps a readable
    width instead of one word per line in a row a whole screen tall."""
    from portal.models import OutboxMessage
    from portal.sending import UNCERTAIN_NOTE

    OutboxMessage.objects.create(
        key="uncertain|email", kind="accounts-overdue", to=["alice@example.com"], subject="Enrol your authenticator",
        status=OutboxMessage.Status.UNCERTAIN, attempts=1, last_error=UNCERTAIN_NOTE,
    )  # fmt: skip
    page = new_page(viewport=PHONE)
    browser_sign_in(page, User.objects.get(email="it@example.com"), password=PASSWORD)
    page.goto("/messages/")
    row = page.locator("main tbody tr", has_text="Enrol your authenticator")
    note = row.locator("td", has_text="may or may not have arrived")
    assert note.bounding_box()["width"] >= 200
    assert row.bounding_box()["height"] < 300
    assert page.evaluate(CHECKS) == []
