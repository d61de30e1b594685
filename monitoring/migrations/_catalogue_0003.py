"""The catalogue of DNS block lists exactly as migration 0003 loaded it (frozen data, never live code).

A migration must do the same thing on every install for ever, so it imports no module that may change.
After that, the catalogue is ``DnsblZone`` rows that IT staff edit; a list added for every install later
comes with its own data migration. The leading underscore keeps Django's migration loader from taking
this file for a migration.
"""

CATALOGUE: list[dict] = [
    {
        "name": "Spamhaus ZEN",
        "zone": "zen.spamhaus.org",
        "kind": "ip",
        "ipv6": True,
        "codes": {
            "127.0.0.2": "SBL: Spamhaus Blocklist (spam source or spam operation)",
            "127.0.0.3": "SBL CSS: low-reputation sending (automated)",
            "127.0.0.4": "XBL: compromised host (malware, exploited)",
            "127.0.0.9": "DROP: hijacked or criminal network",
            "127.0.0.10": "PBL: the ISP says this address should not send mail directly",
            "127.0.0.11": "PBL: Spamhaus thinks this address should not send mail directly",
            "127.0.0.30": "BCL: botnet controller",
        },
        "refusal_codes": ["127.255.255.252", "127.255.255.254", "127.255.255.255"],
        "refusal_advice": "Spamhaus refuses public resolvers (8.8.8.8, 1.1.1.1, ...) and busy shared ones: run a local "
        "recursive resolver and set DNSBL_NAMESERVERS, or use a free DQS key. 127.255.255.252: typo in "
        "the zone.",
        "delisting_url": "https://check.spamhaus.org/",
        "notes": "Free through public mirrors for low-volume, non-commercial use; otherwise a DQS key.",
    },
    {
        "name": "Spamhaus ZEN (DQS)",
        "zone": "zen.dq.spamhaus.net",
        "kind": "ip",
        "ipv6": True,
        "codes": {
            "127.0.0.2": "SBL: Spamhaus Blocklist (spam source or spam operation)",
            "127.0.0.3": "SBL CSS: low-reputation sending (automated)",
            "127.0.0.4": "XBL: compromised host (malware, exploited)",
            "127.0.0.9": "DROP: hijacked or criminal network",
            "127.0.0.10": "PBL: the ISP says this address should not send mail directly",
            "127.0.0.11": "PBL: Spamhaus thinks this address should not send mail directly",
            "127.0.0.30": "BCL: botnet controller",
        },
        "refusal_codes": ["127.255.255.252", "127.255.255.254", "127.255.255.255", "127.255.255.0/24"],
        "refusal_advice": "Check the DQS key (queries go to KEY.zen.dq.spamhaus.net).",
        "delisting_url": "https://check.spamhaus.org/",
        "needs_registration": True,
        "needs_key": True,
        "enabled": False,
        "notes": "Use instead of the public ZEN mirror once you have a free DQS key; then disable the public one.",
    },
    {
        "name": "SpamCop",
        "zone": "bl.spamcop.net",
        "kind": "ip",
        "codes": {"127.0.0.2": "Reported as a spam source by SpamCop users and traps"},
        "delisting_url": "https://www.spamcop.net/bl.shtml",
        "notes": "Listings expire by themselves about 24 hours after the reports stop.",
    },
    {
        "name": "Barracuda Reputation Block List",
        "zone": "b.barracudacentral.org",
        "kind": "ip",
        "codes": {"127.0.0.2": "Poor reputation at Barracuda Central"},
        "refusal_advice": "Register the resolver's public address (free) at barracudacentral.org.",
        "delisting_url": "https://www.barracudacentral.org/rbl/removal-request",
        "needs_registration": True,
        "notes": "Answers only resolvers whose address is registered (free).",
    },
    {
        "name": "UCEPROTECT Level 1",
        "zone": "dnsbl-1.uceprotect.net",
        "kind": "ip",
        "codes": {"127.0.0.2": "This address sent mail to UCEPROTECT spam traps"},
        "delisting_url": "https://www.uceprotect.net/en/rblcheck.php",
        "notes": "Expires automatically 7 days after the last spam; paid express delisting exists.",
    },
    {
        "name": "UCEPROTECT Level 2",
        "zone": "dnsbl-2.uceprotect.net",
        "kind": "ip",
        "codes": {"127.0.0.2": "Too many Level 1 listings in this address's allocation"},
        "delisting_url": "https://www.uceprotect.net/en/rblcheck.php",
        "notes": "Lists neighbours' ranges; only the provider can clear it. Informational for most sites.",
    },
    {
        "name": "Passive Spam Block List",
        "zone": "psbl.surriel.com",
        "kind": "ip",
        "codes": {"127.0.0.2": "Sent mail to PSBL spam traps"},
        "delisting_url": "https://psbl.org/",
        "notes": "Self-service removal on the lookup page.",
    },
    {
        "name": "Mailspike Blacklist",
        "zone": "bl.mailspike.net",
        "kind": "ip",
        "codes": {
            "127.0.0.2": "Part of a distributed spam wave (Mailspike Z)",
            "127.0.0.10": "Reputation L5: worst",
            "127.0.0.11": "Reputation L4: very bad",
            "127.0.0.12": "Reputation L3: bad",
        },
        "delisting_url": "https://mailspike.org/",
        "notes": "Free under 100,000 queries a day.",
    },
    {
        "name": "DroneBL",
        "zone": "dnsbl.dronebl.org",
        "kind": "ip",
        "ipv6": True,
        "codes": {
            "127.0.0.3": "IRC drone",
            "127.0.0.5": "Bottler",
            "127.0.0.6": "Unknown spambot or drone",
            "127.0.0.7": "DDoS drone",
            "127.0.0.8": "SOCKS proxy",
            "127.0.0.9": "HTTP proxy",
            "127.0.0.10": "Proxy chain",
            "127.0.0.11": "Web page proxy",
            "127.0.0.12": "Open DNS resolver",
            "127.0.0.13": "Brute-force attacker",
            "127.0.0.14": "Open WinGate proxy",
            "127.0.0.15": "Compromised router or gateway",
            "127.0.0.16": "Auto-rooting worm",
            "127.0.0.17": "Automatically detected botnet address",
            "127.0.0.18": "DNS/MX on IRC network",
            "127.0.0.19": "Abused VPN service",
            "127.0.0.255": "Uncategorised",
        },
        "delisting_url": "https://dronebl.org/lookup",
    },
    {
        "name": "SpamRATS (all)",
        "zone": "all.spamrats.com",
        "kind": "ip",
        "codes": {
            "127.0.0.36": "RATS-Dyna: looks like a dynamic or end-user address",
            "127.0.0.37": "RATS-NoPtr: no reverse DNS",
            "127.0.0.38": "RATS-Spam: seen sending spam",
            "127.0.0.43": "RATS-Auth: brute-force authentication attempts",
        },
        "delisting_url": "https://www.spamrats.com/lookup.php",
        "notes": "NoPtr and Dyna listings clear once reverse DNS names the mail server.",
    },
    {
        "name": "Backscatterer",
        "zone": "ips.backscatterer.org",
        "kind": "ip",
        "codes": {"127.0.0.2": "Sends backscatter (bounces or auto-replies to forged senders)"},
        "delisting_url": "https://www.backscatterer.org/",
        "notes": "Expires 4 weeks after the last backscatter; stop bouncing after accepting mail.",
    },
    {
        "name": "blocklist.de",
        "zone": "bl.blocklist.de",
        "kind": "ip",
        "codes": {"127.0.0.2": "Reported for attacks (brute force, spam) in the last 48 hours"},
        "delisting_url": "https://www.blocklist.de/en/delist.html",
    },
    {
        "name": "InterServer RBL",
        "zone": "rbl.interserver.net",
        "kind": "ip",
        "codes": {"127.0.0.2": "Seen sending spam or attacks by InterServer"},
        "delisting_url": "https://rbl.interserver.net/",
    },
    {
        "name": "NordSpam",
        "zone": "bl.nordspam.com",
        "kind": "ip",
        "ipv6": True,
        "codes": {"127.0.0.2": "Spam or abuse source (manually moderated, focus on Nordic/European mail)"},
        "delisting_url": "https://www.nordspam.com/",
        "notes": "Listings do not expire: ask for delisting by e-mail, explaining how the cause was fixed.",
    },
    {
        "name": "NordSpam DBL",
        "zone": "dbl.nordspam.com",
        "kind": "domain",
        "codes": {"127.0.0.2": "Domain used for spam or abuse (manually moderated)"},
        "delisting_url": "https://www.nordspam.com/",
        "notes": "The request must come from an address at the listed domain.",
    },
    {
        "name": "Abusix Mail Intelligence",
        "zone": "combined.mail.abusix.zone",
        "kind": "ip",
        "ipv6": True,
        "codes": {"127.0.0.2": "Black: seen sending spam"},
        "delisting_url": "https://lookup.abusix.com/",
        "needs_registration": True,
        "needs_key": True,
        "enabled": False,
        "notes": "Needs a (free for small use) key: queries go to KEY.combined.mail.abusix.zone.",
    },
    {
        "name": "Spamhaus DBL",
        "zone": "dbl.spamhaus.org",
        "kind": "domain",
        "codes": {
            "127.0.1.2": "Low-reputation (spam) domain",
            "127.0.1.4": "Phishing domain",
            "127.0.1.5": "Malware domain",
            "127.0.1.6": "Botnet C&C domain",
            "127.0.1.102": "Abused legitimate domain (spam)",
            "127.0.1.103": "Abused redirector or URL shortener",
            "127.0.1.104": "Abused legitimate domain (phishing)",
            "127.0.1.105": "Abused legitimate domain (malware)",
            "127.0.1.106": "Abused legitimate domain (botnet C&C)",
        },
        "refusal_codes": ["127.255.255.252", "127.255.255.254", "127.255.255.255", "127.0.1.255", "127.255.255.0/24"],
        "refusal_advice": "Spamhaus refuses public resolvers (8.8.8.8, 1.1.1.1, ...) and busy shared ones: run a local "
        "recursive resolver and set DNSBL_NAMESERVERS, or use a free DQS key. 127.255.255.252: typo in "
        "the zone. 127.0.1.255 means an IP address was queried on the domain list.",
        "delisting_url": "https://check.spamhaus.org/",
    },
    {
        "name": "SURBL multi",
        "zone": "multi.surbl.org",
        "kind": "domain",
        "bitmask": True,
        "codes": {
            "4": "DM: disposable e-mail domain",
            "8": "PH: phishing",
            "16": "MW: malware",
            "32": "CT: click-tracking domain",
            "64": "ABUSE: spam and abuse",
            "128": "CR: cracked (compromised) site",
        },
        "refusal_codes": ["127.0.0.1"],
        "refusal_advice": "The list refuses queries from large shared resolvers. Point DNSBL_NAMESERVERS at a local "
        "recursive resolver on the mail server.",
        "delisting_url": "https://www.surbl.org/surbl-analysis",
    },
    {
        "name": "URIBL multi",
        "zone": "multi.uribl.com",
        "kind": "domain",
        "bitmask": True,
        "codes": {
            "2": "black: domain used by spammers",
            "4": "grey: bulk-mail domain that may honour opt-out",
            "8": "red: very new or privacy-protected domain in mail flow",
        },
        "refusal_codes": ["127.0.0.1"],
        "refusal_advice": "The list refuses queries from large shared resolvers. Point DNSBL_NAMESERVERS at a local "
        "recursive resolver on the mail server. See https://uribl.com/refused.shtml.",
        "delisting_url": "https://admin.uribl.com/",
        "notes": "Delisting requests need a free login.",
    },
]


def load_catalogue(zone_model) -> int:
    """Create the catalogue's zones that are missing (existing rows, possibly edited, are kept)."""
    created = 0
    for position, entry in enumerate(CATALOGUE, 1):
        _, made = zone_model.objects.get_or_create(zone=entry["zone"], defaults={**entry, "position": position * 10})
        created += made
    return created
