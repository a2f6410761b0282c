"""
Calls to the fake Patreon over real HTTP, as a client of Patreon makes them:
the login flow, the token endpoint, the identity and creator endpoints, and
the fake's own ``/__fake/`` controls.
"""

from urllib.parse import parse_qsl, urlsplit

import requests

REDIRECT_URI = "https://api.ventures.test/accounts/patreon/login/callback/"
CLIENT = {"client_id": "fake-client-id", "client_secret": "fake-client-secret"}
OUR_CAMPAIGN = "9000001"
EMAIL_SCOPES = "identity identity[email]"


def authorize(fake, patron="1001", scope=EMAIL_SCOPES, **params):
    """GET the authorize endpoint; ``patron=None`` asks for the consent page."""
    query = {
        "response_type": "code",
        "client_id": "fake-client-id",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "xyz",
        "fake_patron": patron,
        **params,
    }
    return requests.get(
        f"{fake.base_url}/oauth2/authorize",
        params=query,
        allow_redirects=False,
        timeout=5,
    )


def redirect_query(response):
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location._replace(query="").geturl() == REDIRECT_URI
    return dict(parse_qsl(location.query))


def code_for(fake, patron="1001", scope=EMAIL_SCOPES):
    return redirect_query(authorize(fake, patron, scope))["code"]


def token(fake, **form):
    return requests.post(f"{fake.base_url}/api/oauth2/token", data=form, timeout=5)


def exchange(fake, code, **overrides):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        **CLIENT,
        **overrides,
    }
    return token(fake, **form)


def login(fake, patron="1001", scope=EMAIL_SCOPES):
    """The whole OAuth2 dance; return the token endpoint's answer."""
    response = exchange(fake, code_for(fake, patron, scope))
    assert response.status_code == 200
    return response.json()


def identity(fake, access_token, **params):
    return requests.get(
        f"{fake.base_url}/api/oauth2/v2/identity",
        params=params,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=5,
    )


def identity_of(fake, patron="1001", scope=EMAIL_SCOPES, **params):
    response = identity(fake, login(fake, patron, scope)["access_token"], **params)
    assert response.status_code == 200
    return response.json()


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["code"] == 1
    assert error["code_name"] == "Unauthorized"
    assert error["status"] == "401"
    assert error["title"] == "Unauthorized"
    assert error["detail"]


def refresh(fake, refresh_token):
    """POST a refresh grant, as Patreon's docs say: form-encoded, client's own."""
    return token(
        fake, grant_type="refresh_token", refresh_token=refresh_token, **CLIENT
    )


def api(fake, path, access_token, **params):
    """GET ``path`` under /api/oauth2/v2 with ``access_token``."""
    return requests.get(
        f"{fake.base_url}/api/oauth2/v2{path}",
        params=params,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=30,
    )


def control(fake, method, path, body=None):
    """Call ``/__fake/<path>`` with a JSON ``body``."""
    return requests.request(
        method, f"{fake.base_url}/__fake/{path}", json=body, timeout=10
    )


def act(fake, patron, action, **options):
    """Apply a world action to ``patron``; the patron's state after it."""
    response = control(
        fake, "POST", f"world/patrons/{patron}", {"action": action, **options}
    )
    assert response.status_code == 200, response.text
    return response.json()


def creator_token(fake):
    """A fresh creator access token, from the fake's shortcut."""
    response = control(fake, "POST", "creator/token")
    assert response.status_code == 200
    return response.json()["access_token"]
