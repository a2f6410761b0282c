"""
Walking the Patreon login flow in tests, over real HTTP to the fake; and
reading the Patreon events a test logged.
"""

import json
import re
from urllib.parse import urlencode, urlsplit

import requests

from ventures.logs import JsonFormatter

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def start_login(client, next_url=None):
    """
    Open the login page and press the button; return Patreon's authorize URL.
    ``client`` is Django's test client or a requests session on a live server.
    """
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    page = client.get(f"/login{query}")
    assert page.status_code == 200
    form = {"csrfmiddlewaretoken": CSRF_INPUT.search(page.content.decode())[1]}
    if next_url:
        form["next"] = next_url
    response = client.post("/accounts/patreon/login/", form)
    assert response.status_code == 302, response.content
    return response.headers["Location"]


def consent(authorize_url, patron="1001", decision="allow"):
    """The patron answers Patreon's consent page; return where Patreon sends them."""
    sep = "&" if "?" in authorize_url else "?"
    query = urlencode({"fake_patron": patron, "fake_decision": decision})
    response = requests.get(
        f"{authorize_url}{sep}{query}", allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def path_of(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def log_in(client, patron="1001", next_url=None):
    """The whole flow; return the callback's response."""
    callback = consent(start_login(client, next_url), patron)
    return client.get(path_of(callback))


def events(caplog, name):
    """The ``name`` events ``caplog`` holds, each as its JSON log line reads."""
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if getattr(record, "event", "") == name
    ]


def assert_never_logged(caplog, secrets):
    """No log line of the test, formatted as production writes it, holds a secret."""
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert lines
    for secret in secrets:
        assert secret
        assert not [line for line in lines if secret in line]
