"""gunicorn reads this file from the working directory (the project folder) by default.

Its access log goes through ``portal.logredact.GunicornLogger``, which keeps the one-time tokens of
invitation and password-reset links out of it.
"""

logger_class = "portal.logredact.GunicornLogger"
