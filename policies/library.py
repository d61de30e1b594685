"""The starter library: policies and procedures for a small business, from the advice in the paper.

IT staff adopt an entry as a draft, edit it to fit the organisation and publish it. The texts are written
for people who are not IT specialists: what to do, and why, in a page each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from policies.models import Policy, Procedure, organisation_zone


@dataclass(frozen=True)
class StarterPolicy:
    key: str
    title: str
    category: str
    summary: str
    body: str


@dataclass(frozen=True)
class StarterProcedure:
    key: str
    title: str
    interval_days: int
    description: str
    steps: tuple[str, ...]


POLICIES: list[StarterPolicy] = [
    StarterPolicy(
        key="remote-mail-access",
        title="Reading and sending company mail away from the office",
        category=Policy.Category.ACCESS,
        summary=(
            "Away from the office, staff use the company webmail over HTTPS with a one-time password. "
            "Mail programs on home computers do not send through our mail server. This keeps our server "
            "off the block lists that would stop our mail reaching customers."
        ),
        body="""\
## Why this matters

Many home internet providers block outgoing mail (SMTP) from home computers, and mail programs that send
through our server from outside need a password that a virus can steal. When a spammer gets a mail
password, they send thousands of messages through our server; our address then lands on the public
**block lists**, and our ordinary mail to customers is refused for days.

## What to do

1. Away from the office, read and send mail in the **company webmail** in your browser. Check that the
   address starts with `https://` and shows our company's name before you sign in.
2. Sign in with your password **and the one-time code** from the authenticator app on your phone.
3. Do not set up a mail program on a home or borrowed computer to send through the company server.
   If you need a mail program on a company laptop, ask IT staff: they set it up for you.
4. Never forward company mail to a private mailbox automatically.
5. Sign out of webmail when you finish on a shared computer, and never tick "remember me" there.

## If it does not work

If your provider or hotel blocks something, do not look for a way around it: tell IT staff what you
see. "I don't understand" is a fine thing to say; it is our job to explain.
""",
    ),
    StarterPolicy(
        key="smtp-authentication-relay",
        title="Mail server relay and SMTP authentication",
        category=Policy.Category.ACCESS,
        summary=(
            "Our mail server relays mail only for signed-in users over an encrypted connection, and only from "
            "the office network or the webmail. This stops strangers and stolen passwords from using it to send spam."
        ),
        body="""\
## The rule

- The mail server **never relays** mail for someone who has not signed in ("open relay").
- Sending from outside the office goes through the **webmail over HTTPS**, not through SMTP from the
  Internet. Where a mail program must send from outside (agreed with IT staff, company devices only),
  it uses **SMTP authentication on the submission port (587) with TLS**, and an app password that can
  be withdrawn on its own.
- Each person has their own account. Shared mail passwords are not allowed.

## For IT staff

- Check after every change that the server does not relay for unauthenticated senders (test from
  outside the network).
- Limit how many messages one account may send per hour, so a stolen password causes little harm.
- Watch the outgoing queue: a sudden queue of thousands of messages means an account is abused —
  lock the account first, investigate second.
- Withdraw app passwords of people who leave on their last day.
""",
    ),
    StarterPolicy(
        key="one-time-passwords",
        title="One-time passwords for mail and the portal",
        category=Policy.Category.ACCOUNTS,
        summary=(
            "Everyone signs in to webmail and this portal with a password plus a one-time code from an "
            "authenticator app. A stolen password alone is then not enough to read or send our mail."
        ),
        body="""\
## Why

Programs that steal passwords ("trojans") are common, and a stolen mail password is how spammers send
through a company's server. A **one-time code** changes every 30 seconds and is useless a minute later,
so a stolen password alone does not open your mailbox.

## What to do

1. Install an authenticator app on your phone (any TOTP app works) and enrol it in this portal under
   *Your account*. Keep the **backup codes** somewhere safe and offline, such as your wallet.
2. Enter a code only on our own sign-in pages. **Nobody from IT will ever ask you for a code** by
   phone or email; anyone who does is an attacker.
3. If you lose your phone, tell IT staff the same day: they withdraw the old token and you enrol a new one.
4. If you are asked for a code you did not expect (you were not signing in), someone has your password:
   change it and tell IT staff at once.
""",
    ),
    StarterPolicy(
        key="device-hygiene",
        title="Laptops and phones that read company mail",
        category=Policy.Category.DEVICES,
        summary=(
            "Any laptop, tablet or phone that reads company mail must have current updates, current antivirus "
            "definitions and no unapproved software. Staff confirm this in a short attestation every month."
        ),
        body="""\
## The rule

A device that can read company mail can also leak it, or be turned into a "zombie" that sends spam in
our name. So every such device — company or personal — must:

1. Have **current system and app updates**. Install updates within a week of release; within two days
   when IT staff announce an urgent one.
2. Have **antivirus or built-in protection switched on** with current definitions (laptops).
3. Have a **screen lock** with a PIN, password or fingerprint, locking after at most 5 minutes.
4. Run **no unapproved software**. Do not install or run programs that IT staff have not approved,
   including "free" tools, cracked software and browser extensions from unknown sources.
5. Be **reported the same day** if it is lost or stolen.

## The monthly check

Once a month you receive a short attestation: three questions you answer yes or no. Answering "no" is
not a mistake to hide — it tells IT staff where to help.
""",
    ),
    StarterPolicy(
        key="passwords-and-phishing",
        title="Passwords and phishing",
        category=Policy.Category.ACCOUNTS,
        summary=(
            "Staff use a long, unique password for company mail, never type it into a page reached from an "
            "email link, and report suspicious messages. Stolen mail passwords are how spam gets sent in our name."
        ),
        body="""\
## Passwords

- Use a **long passphrase** (four or more words, 12+ characters) for company mail, used **nowhere else**.
- A password manager is welcome; a note under the keyboard is not.
- Change your password at once if you think someone saw it or you typed it into a wrong page.

## Phishing

Criminals send mail that looks like it comes from us, a bank or a supplier, with a link to a page that
asks for your password. Others attach a "trojan" that quietly steals passwords from your computer.

- **Do not sign in from a link in an email.** Type the address or use your bookmark.
- Do not open unexpected attachments, even from people you know; ask them first by phone.
- Check the sender's real address, not just the name.
- Urgency ("your mailbox will be closed today") is a warning sign.

## If you clicked

Tell IT staff straight away. Clicking is a mistake anyone can make; keeping quiet about it is the only
real failure. Change your password and let IT staff check your computer.
""",
    ),
    StarterPolicy(
        key="reporting-incidents",
        title="Reporting security incidents",
        category=Policy.Category.INCIDENTS,
        summary=(
            "Anyone who notices something unusual — a lost phone, a strange login request, mail bouncing, "
            "a clicked phishing link — tells IT staff the same day. Reports are welcome and never punished."
        ),
        body="""\
## What to report

- A lost or stolen laptop, phone or tablet that reads company mail.
- A one-time code request you did not expect, or a sign-in notice you do not recognise.
- A suspicious email, especially one you clicked or answered.
- Customers telling you our mail did not arrive or was marked as spam (our server may be on a block list).
- Messages in your *Sent* folder that you did not write.

## How

Phone or speak to IT staff **the same day**; email them too, with what you saw and when. Do not forward
a suspicious attachment — describe it, or forward only when IT staff ask.

## What happens next

IT staff lock what needs locking (passwords, tokens, app passwords), check the mail server and block
lists, and tell you what to do. We record every incident and review the lesson learned, not the person.
""",
    ),
]

POLICIES_BY_KEY = {entry.key: entry for entry in POLICIES}


PROCEDURES: list[StarterProcedure] = [
    StarterProcedure(
        key="new-isp-address",
        title="Check a new ISP address before using it",
        interval_days=365,
        description=(
            "Before the mail server sends from a new address given by the ISP, make sure the address is not "
            "listed on any DNS block list; a listed address means refused mail from day one."
        ),
        steps=(
            "Note the new address (and range) the ISP assigned.",
            "Check it with the portal's DNS block list check on every list we use.",
            "If listed: ask the ISP for another address, or request delisting before switching.",
            "Check that the reverse DNS (PTR) name is set and matches the server's name.",
            "Record the result in the notes.",
        ),
    ),
    StarterProcedure(
        key="after-patching",
        title="After patching: server and spam-filter configuration unchanged",
        interval_days=30,
        description=(
            "Updates can reset configuration. A spam filter that became too strict loses business mail; "
            "one that became too weak lets spam through."
        ),
        steps=(
            "Confirm the configuration watch shows no unapproved changes (or approve the expected ones).",
            "Send a test message in and out; check it arrived and was not marked as spam.",
            "Check the server still refuses to relay for unauthenticated senders.",
            "Check the spam filter's quarantine for business mail caught wrongly since the update.",
        ),
    ),
    StarterProcedure(
        key="bandwidth-review",
        title="Review mail-server bandwidth",
        interval_days=30,
        description=(
            "If spam or attacks keep the line above 80 % of its capacity, ask the ISP to filter the traffic "
            "at their edge."
        ),
        steps=(
            "Open the load dashboard and look at the last month's network use against the line's capacity.",
            "Note the busiest hour and the mail queue at that time.",
            "If above 80 %: send the prepared 'report to ISP' text and record the ISP's answer.",
        ),
    ),
    StarterProcedure(
        key="device-patch-status",
        title="Review device patch status",
        interval_days=30,
        description="Follow up the monthly device attestation: nobody should stay on 'no' for long.",
        steps=(
            "Open the attestation campaign and read this month's answers.",
            "Contact everyone who answered 'no' or did not answer, and help them update.",
            "Check company laptops' update and antivirus status in their management tools.",
        ),
    ),
    StarterProcedure(
        key="review-policies",
        title="Review the security policies",
        interval_days=180,
        description="Policies age as technology moves; review them with an executive twice a year.",
        steps=(
            "Open the review list and read each policy due within 30 days.",
            "Update what no longer fits how we work, and publish new versions.",
            "Decide which changes need everyone to acknowledge again.",
            "Check the executive summary for policies with low acknowledgement and plan a reminder.",
        ),
    ),
]


PROCEDURES_BY_KEY = {entry.key: entry for entry in PROCEDURES}


@transaction.atomic
def adopt(entry: StarterPolicy, *, owner) -> Policy:
    """A draft copy of a starter policy (adopting twice gives two drafts: one may be a variant)."""
    return Policy.objects.create(
        title=entry.title,
        summary=entry.summary,
        body=entry.body,
        category=entry.category,
        owner=owner,
        library_key=entry.key,
    )


@transaction.atomic
def adopt_procedure(entry: StarterProcedure, *, owner) -> Procedure:
    today = timezone.localdate(timezone=organisation_zone())
    procedure = Procedure.objects.create(
        title=entry.title,
        description=entry.description,
        interval_days=entry.interval_days,
        owner=owner,
        next_due_on=today + dt.timedelta(days=7),
        library_key=entry.key,
    )
    for position, text in enumerate(entry.steps):
        procedure.steps.create(text=text, position=position)
    return procedure
