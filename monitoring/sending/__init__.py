"""The sending guard: a Postfix policy service that holds back a hijacked account, and the *Sending* pages.

``policy/`` is the service Postfix asks about every recipient and every message (three layers:
``protocol``, ``decision``, ``server``, with ``counters``, ``snapshot`` and ``recorder`` around them);
the rest of the app is its data, its pages and its messages. docs/sending.md explains the whole.
"""
