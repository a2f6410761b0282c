"""Production environments for tests that start the app in a fresh process."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides):
    """
    A correct production environment (the one the README deploys), plus
    overrides; a value of None removes the variable.
    """
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "ventures.settings",
        "ENV_FILE": "",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "api.ventures.isharehow.app",
        "FRONTEND_ORIGINS": "https://ventures.isharehow.app",
        "PATREON_CLIENT_ID": "our-client-id",
        "PATREON_CLIENT_SECRET": secrets.token_urlsafe(32),
        "PATREON_CAMPAIGN_ID": "1234567",
        "PATREON_WEBHOOK_SECRETS": secrets.token_urlsafe(32),
        "PATREON_TOKEN_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:///:memory:"),
        "REDIS_URL": "redis://127.0.0.1:6379/15",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run_python(code, env, cwd=ROOT, timeout=60):
    """Run ``code`` in a new interpreter: nothing leaks between cases."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
