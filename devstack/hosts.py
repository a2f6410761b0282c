"""
The names the dev stack serves, as production has them: the API, the
frontend, the fake Patreon behind TLS, and a foreign site for the
cross-origin attacks. All of them live on loopback.
"""

API_HOST = "api.ventures.test"
API_ORIGIN = f"https://{API_HOST}"
FRONTEND_HOST = "ventures.test"
FRONTEND_ORIGIN = f"https://{FRONTEND_HOST}"
FRONTEND_URL = f"{FRONTEND_ORIGIN}/"
PATREON_HOST = "patreon.ventures.test"
EVIL_HOST = "evil.test"
EVIL_ORIGIN = f"https://{EVIL_HOST}"
CERTIFICATE_NAMES = (API_HOST, FRONTEND_HOST, PATREON_HOST)
# nginx, on the same machine: gunicorn trusts its X-Forwarded-* headers.
TRUSTED_PROXY = "127.0.0.1"
