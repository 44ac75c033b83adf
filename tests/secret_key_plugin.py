"""Loaded by pytest.ini (`-p tests.secret_key_plugin`) before Django's settings: a random SECRET_KEY for
this test run when none is set, so the suite runs on PostgreSQL too, and the servers tests start share it."""

import os
import secrets

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
