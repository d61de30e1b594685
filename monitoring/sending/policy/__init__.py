"""The Postfix policy service (``manage.py mail_policy_server``), in three layers (STYLE.md 13-15):

- ``protocol``: Postfix's policy delegation format (``name=value`` lines, an empty line; ``action=...``
  back): bytes in, a ``PolicyRequest`` out, with limits on line length, line count and request size;
- ``decision``: the answer to one request from the in-memory ``Snapshot``, the sender's ``Counts`` and
  the time (no I/O);
- ``server``: the thin asyncio transport (TCP or a Unix socket) with the snapshot refresh, the counters
  (``counters``: in memory, or Redis shared by several mail servers) and the batched writes
  (``recorder``) around it.

``snapshot`` loads what the decision needs from the database; ``config`` renders the Postfix lines that
``manage.py mail_policy_config`` prints. docs/sending.md explains the whole.
"""
