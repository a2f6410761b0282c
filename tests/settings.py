"""
The production settings, fed a production-like environment, for the suite.

Tests exercise the real policy (Secure, prefixed cookies, HTTPS redirect),
not a relaxed copy of it. DATABASE_URL from the real environment wins, so
``make test`` runs on PostgreSQL when it points there.
"""

import base64
import os
import secrets

os.environ["ENV_FILE"] = ""  # a developer's .env must not leak into tests
os.environ["DEBUG"] = "false"
for name, value in {
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "api.ventures.test",
    "FRONTEND_ORIGINS": "https://ventures.test",
    "PATREON_CLIENT_ID": "fake-client-id",
    "PATREON_CLIENT_SECRET": "fake-client-secret",
    "PATREON_CAMPAIGN_ID": "9000001",
    "PATREON_WEBHOOK_SECRETS": "test-webhook-secret",
    "PATREON_TOKEN_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    # The fake's tiers (fake_patreon.patrons): Supporter, Patron, Benefactor.
    "PATREON_ENTITLEMENTS": "supporter:7001|7002|7003,early-access:7002|7003",
}.items():
    os.environ.setdefault(name, value)

from ventures.settings import *  # noqa: E402, F403

# Hashing is not what these tests are about.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Static files come from the apps' folders; production serves collectstatic's.
STATIC_ROOT = None
WHITENOISE_AUTOREFRESH = True

# One process runs the suite, so Django's local-memory cache is shared by
# everything that counts, and the suite needs no Redis (tests of the limiter
# on Redis bring their own). Silenced here only: production cannot silence
# a check from its environment.
SILENCED_SYSTEM_CHECKS = ["ventures.E070"]

# Every test client comes from 127.0.0.1; tests of the limits set their own.
RATELIMITS = {
    "login": (10_000, 60),
    "callback": (10_000, 60),
    "login_username": (10_000, 900),
}
