"""
What makes a secret key unsafe to sign with: the rules behind
``ventures.checks``' E002 (SECRET_KEY) and E003 (its fallbacks).
"""

# Django's own thresholds (django.core.checks.security.base), except variety:
# five distinct characters lets "ababab..." through; any real random key of
# 50 characters has far more than ten.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 10
SECRET_KEY_INSECURE_PREFIX = "django-insecure-"  # noqa: S105 (a prefix to refuse)

# Keys that have been published and so sign nothing. Compared exactly.
KNOWN_PUBLIC_SECRET_KEYS = frozenset(
    {
        # The Flask app's key, printed in the incident write-up (shared/seed/).
        "32e6ab70212f7e807449da70bf651de3f862b0191ab921de0f3b11cb933803d1",
        # Django's own test settings; every generated "django-insecure-" key
        # from the docs and startproject is caught by the prefix rule instead.
        "django_tests_secret_key",
        # The placeholder in this repository's .env.example.
        "replace-me-with-the-output-of-python-c-import-secrets-print-secrets-token-urlsafe-64",
    }
)


def faults(key):
    """Why ``key`` cannot sign anything, as phrases; empty if it can."""
    if not key:
        return ["it is empty"]
    faults = []
    if key in KNOWN_PUBLIC_SECRET_KEYS:
        faults.append("it has been published and is on the denylist of known keys")
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        faults.append(f"it starts with '{SECRET_KEY_INSECURE_PREFIX}'")
    if len(key) < SECRET_KEY_MIN_LENGTH:
        faults.append(f"it is shorter than {SECRET_KEY_MIN_LENGTH} characters")
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        faults.append(
            f"it has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct characters"
        )
    return faults
