"""
The environment, read by ventures/settings.py in a fresh process per case.

Each boot costs an interpreter and Django's setup (about 2 s on a loaded
machine), so these are marked slow and kept few: what only a real start can
show. The policy's rules themselves are tested in-process in test_checks.py.
"""

import json
import re
import shutil
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from tests.environments import ROOT, production_env, run_python

SEED_KEY = "32e6ab70212f7e807449da70bf651de3f862b0191ab921de0f3b11cb933803d1"

START = "import ventures.wsgi"
SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({n: getattr(s, n, None) for n in %r}, default=str))"
)


def settings_of(env, *names):
    result = run_python(SHOW % (names,), env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# The policy's rules are tested in-process, one class per check
# (test_checks.py); these boots prove the entry point enforces them.


@pytest.mark.slow
def test_correct_production_environment_starts():
    result = run_python(START, production_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_published_seed_key_refuses_to_start_naming_the_rule_and_its_fix():
    result = run_python(START, production_env(SECRET_KEY=SEED_KEY))
    assert result.returncode != 0
    assert "ImproperlyConfigured: Refusing to start" in result.stderr
    assert "(ventures.E002)" in result.stderr
    assert "HINT:" in result.stderr


@pytest.mark.slow
def test_a_debug_that_is_not_exactly_true_refuses_to_start_naming_it():
    result = run_python(START, production_env(DEBUG="1"))
    assert result.returncode != 0
    assert "DEBUG is '1'" in result.stderr
    assert "(ventures.E080)" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("value", ["", "false"])
def test_debug_empty_or_false_is_production(value):
    assert settings_of(production_env(DEBUG=value), "DEBUG") == {"DEBUG": False}


@pytest.mark.slow
def test_debug_1_never_shows_the_technical_404_page():
    """Not even where no check runs (a shell): the page would list ADMIN_URL."""
    env = production_env(DEBUG="1", ADMIN_URL="hidden-4f2a9c/")
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "from django.test import Client; "
        "r = Client().get('/nothing', secure=True, "
        "HTTP_HOST='api.ventures.isharehow.app'); "
        "print(json.dumps([settings.DEBUG, r.status_code, r.content.decode()]))"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    debug, status, page = json.loads(result.stdout.splitlines()[-1])
    assert (debug, status) == (False, 404)
    assert "hidden-4f2a9c" not in page
    assert "URLconf" not in page


@pytest.mark.slow
def test_deploy_check_passes_on_a_correct_production_environment():
    """Django's own deploy checks too, on the settings the README deploys."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=production_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_lists_are_trimmed():
    env = production_env(
        ALLOWED_HOSTS=" api.ventures.isharehow.app , admin.ventures.isharehow.app,",
        FRONTEND_ORIGINS="https://ventures.isharehow.app ,  https://www.isharehow.app",
    )
    found = settings_of(env, "ALLOWED_HOSTS", "CORS_ALLOWED_ORIGINS")
    assert found["ALLOWED_HOSTS"] == [
        "api.ventures.isharehow.app",
        "admin.ventures.isharehow.app",
    ]
    assert found["CORS_ALLOWED_ORIGINS"] == [
        "https://ventures.isharehow.app",
        "https://www.isharehow.app",
    ]


@pytest.mark.slow
def test_secret_key_file_is_read(tmp_path):
    key_file = tmp_path / "key"
    key = "k" * 10 + "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LmNbVcXz-_" * 2
    key_file.write_text(key + "\n")
    env = production_env(SECRET_KEY=None, SECRET_KEY_FILE=str(key_file))
    assert run_python(START, env).returncode == 0
    assert settings_of(env, "SECRET_KEY") == {"SECRET_KEY": key}


@pytest.mark.slow
def test_real_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ADMIN_URL=from-file/\nSESSION_COOKIE_SAMESITE=Strict\n")
    env = production_env(ENV_FILE=str(env_file), ADMIN_URL="from-env/")
    found = settings_of(env, "ADMIN_URL", "SESSION_COOKIE_SAMESITE")
    assert found == {"ADMIN_URL": "from-env/", "SESSION_COOKIE_SAMESITE": "Strict"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "session", "csrf"),
    [
        ({}, "__Host-sessionid", "__Host-csrftoken"),
        (
            {"SESSION_COOKIE_DOMAIN": ".ventures.isharehow.app"},
            "__Secure-sessionid",
            "__Host-csrftoken",
        ),
    ],
)
def test_production_cookie_names_carry_a_prefix(overrides, session, csrf):
    found = settings_of(
        production_env(**overrides), "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME"
    )
    assert found == {"SESSION_COOKIE_NAME": session, "CSRF_COOKIE_NAME": csrf}


@pytest.fixture
def fresh_checkout(tmp_path):
    """A copy of the project's code, as a fresh clone has it."""
    for name in ("ventures", "accounts", "sessions", "templates", "manage.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


@pytest.mark.slow
def test_development_mode_needs_no_configuration(fresh_checkout):
    env = {"PATH": production_env()["PATH"], "DEBUG": "true"}
    code = (
        "import json, sys, ventures.wsgi; from django.conf import settings; "
        "sys.stderr.write(settings.SECRET_KEY); "
        "print(json.dumps(settings.PATREON_TOKEN_KEYS)); "
        "print(settings.LOGIN_REDIRECT_URL)"
    )
    first = run_python(code, env, cwd=fresh_checkout)
    # No frontend in development: a login lands where it shows whom it logged in.
    assert first.stdout.splitlines()[-1] == "/api/auth/me"
    assert first.returncode == 0, first.stderr
    key_file = fresh_checkout / ".secret-key"
    # A random key, persisted so sessions survive a restart.
    assert first.stderr == key_file.read_text().strip()
    assert len(first.stderr) >= 50
    assert key_file.stat().st_mode & 0o077 == 0
    # A Fernet key for the creator's token, persisted so it stays readable.
    token_key_file = fresh_checkout / ".patreon-token-key"
    token_keys = json.loads(first.stdout.splitlines()[-2])
    assert token_keys == [token_key_file.read_text().strip()]
    Fernet(token_keys[0])
    assert token_key_file.stat().st_mode & 0o077 == 0
    second = run_python(code, env, cwd=fresh_checkout)
    assert second.stderr == first.stderr
    assert json.loads(second.stdout.splitlines()[-2]) == token_keys
    assert (fresh_checkout / ".gitignore").exists() is False  # nothing else written


def test_development_keys_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".secret-key" in ignored
    assert ".patreon-token-key" in ignored
    assert ".env" in ignored


def variables_read_by_settings():
    """What ventures/settings.py and gunicorn.conf.py read from the environment."""
    settings = (ROOT / "ventures" / "settings.py").read_text()
    gunicorn = (ROOT / "gunicorn.conf.py").read_text()
    return set(
        re.findall(r'env(?:\.\w+|_list)\(\s*"([A-Z][A-Z0-9_]+)"', settings)
    ) | set(
        re.findall(r'(?:_int|_list|os\.environ\.get)\("([A-Z][A-Z0-9_]+)"', gunicorn)
    )


def test_every_variable_is_in_env_example_and_readme():
    names = variables_read_by_settings()
    assert {"SECRET_KEY", "GUNICORN_BIND", "WEB_CONCURRENCY"} <= names
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    assert [n for n in names if not re.search(rf"^#?{n}=", example, re.M)] == []
    assert [n for n in names if f"| `{n}` |" not in readme] == []
