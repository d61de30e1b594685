"""The app-password verifier that Dovecot (and Postfix through Dovecot SASL) asks on every mail login.

Three layers, each testable alone (STYLE.md 13-15):

- ``protocol``: the wire format between Dovecot's Lua passdb and the verifier (bytes in, a request
  object out, with limits; answers out as bytes);
- ``decision``: the pure verdict for one request from an in-memory ``Snapshot`` (no I/O);
- ``server``: the thin asyncio transport on a Unix socket, with the snapshot refresh, the batched
  writes (``recorder``) and the Dovecot auth-cache flush (``dovecot``) around it.

``snapshot`` loads the facts from the database; ``config`` renders the Dovecot and Postfix
configuration that ``manage.py mail_auth_config`` prints. docs/mail-clients.md explains the whole.
"""
