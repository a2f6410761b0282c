"""
HTTP clients that behave as one person's browser: cookies kept by name (as a
browser keeps them for one host), an address of their own, the Origin a
browser names on unsafe requests, and the whole Patreon login.

``Browser`` talks HTTPS to nginx for ``api.ventures.test``; ``DirectClient``
talks to one gunicorn as nginx would ask it (from 127.0.0.1, the trusted
proxy, with ``X-Forwarded-For``), which is what the benchmark measures.
"""

from __future__ import annotations

import itertools
import re
from http.cookiejar import DefaultCookiePolicy
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from devstack.hosts import API_HOST, API_ORIGIN

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

# Each browser connects from an address of its own in 127.1.0.0/16 (all of
# 127/8 is loopback), as distinct people do: nginx passes it on as
# X-Forwarded-For, and per-IP rate limits count each person apart.
_client_numbers = itertools.count(1)


def next_client_ip():
    """The next browser's own loopback address."""
    n = next(_client_numbers)
    return f"127.1.{n // 250 % 250}.{n % 250 + 1}"


class SourceAddressAdapter(HTTPAdapter):
    """Connections from ``source_ip``; TLS names ``server_hostname`` (SNI)."""

    def __init__(self, source_ip, server_hostname=None):
        self._extra = {"source_address": (source_ip, 0)}
        if server_hostname:
            self._extra["server_hostname"] = server_hostname
        super().__init__(pool_connections=1, pool_maxsize=2)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **{**kwargs, **self._extra})


def proxied_headers(ip, headers=None):
    """What nginx adds to a request from ``ip`` before it reaches gunicorn."""
    return {
        "Host": API_HOST,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": ip,
        **(headers or {}),
    }


class LoginError(AssertionError):
    """A step of the Patreon login answered something else than it should."""

    def __init__(self, message, response):
        body = response.text[:500]
        super().__init__(f"{message}: {response.headers!r}\n{body}")
        self.response = response


class Client:
    """
    One person's cookies and address; subclasses say where a request goes
    (``request``). ``http`` is the session Patreon's consent page is asked
    through.
    """

    def __init__(self, ca, ip, timeout=15):
        self.ca = str(ca)
        self.ip = ip
        self.timeout = timeout
        self.cookies = {}
        self.http = requests.Session()
        self.http.trust_env = False
        # requests' own jar would match cookies on 127.0.0.1, not on our
        # host names: this class keeps them instead.
        self.http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def keep_cookies(self, response):
        for header in response.raw.headers.getlist("Set-Cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def send(self, session, method, url, *, headers, timeout=None, **kwargs):
        """``method url`` with this person's cookies; keeps what it sets."""
        headers = {"Host": API_HOST, **headers}
        if self.cookies:
            headers.setdefault("Cookie", self.cookie_header())
        if method not in ("GET", "HEAD"):
            # A browser names the origin of every unsafe request.
            headers.setdefault("Origin", API_ORIGIN)
        response = session.request(
            method,
            url,
            headers=headers,
            allow_redirects=False,
            verify=self.ca,
            timeout=timeout or self.timeout,
            **kwargs,
        )
        self.keep_cookies(response)
        return response

    def request(self, method, path, **kwargs):
        raise NotImplementedError("Client subclasses must implement request()")

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def login_token(self):
        """The CSRF token of the login page's form."""
        page = self.get("/login")
        token = CSRF_INPUT.search(page.text)
        if page.status_code != 200 or not token:
            raise LoginError(f"GET /login answered {page.status_code}", page)
        return token[1]

    def start_login(self, patron):
        """
        The login up to its callback: the login page, its button, Patreon's
        consent (``fake_patron`` answers it). Returns the callback's path
        and query.
        """
        start = self.post(
            "/accounts/patreon/login/",
            data={"csrfmiddlewaretoken": self.login_token()},
        )
        if start.status_code != 302:
            raise LoginError(f"starting the login answered {start.status_code}", start)
        authorize = start.headers["Location"]
        separator = "&" if "?" in authorize else "?"
        consent = self.http.get(
            authorize + separator + urlencode({"fake_patron": patron}),
            allow_redirects=False,
            verify=self.ca,
            timeout=self.timeout,
        )
        if consent.status_code != 302:
            raise LoginError(
                f"Patreon's consent answered {consent.status_code}", consent
            )
        callback = urlsplit(consent.headers["Location"])
        if callback.netloc != API_HOST:
            raise LoginError(f"Patreon sent us to {callback.netloc}", consent)
        return f"{callback.path}?{callback.query}"

    def log_in(self, patron):
        """The whole Patreon login; returns the callback's response."""
        response = self.get(self.start_login(patron))
        if response.status_code != 302 or not any(
            name.endswith("sessionid") for name in self.cookies
        ):
            raise LoginError(f"the callback answered {response.status_code}", response)
        return response

    def me(self, **kwargs):
        return self.get("/api/auth/me", **kwargs)

    def log_out(self):
        token = self.get("/api/auth/csrf").json()["csrf_token"]
        return self.post("/api/auth/logout", headers={"X-CSRFToken": token})


class Browser(Client):
    """
    A browser talking HTTPS to nginx for ``api.ventures.test`` (SNI and
    certificate checked against that name), from its own loopback address.
    """

    def __init__(self, nginx, ca, source_ip=None):
        super().__init__(ca, source_ip or next_client_ip())
        self.nginx = nginx
        self.http.mount("https://", SourceAddressAdapter(self.ip))
        self.http.mount("http://", SourceAddressAdapter(self.ip))
        self._mounted = set()

    def _base(self, nginx):
        if nginx.https_port not in self._mounted:
            self.http.mount(
                f"https://127.0.0.1:{nginx.https_port}/",
                SourceAddressAdapter(self.ip, server_hostname=API_HOST),
            )
            self._mounted.add(nginx.https_port)
        return f"https://127.0.0.1:{nginx.https_port}"

    def request(self, method, path, *, via=None, headers=None, **kwargs):
        """``method path`` through nginx (``via``, default the stack's)."""
        url = self._base(via or self.nginx) + path
        return self.send(self.http, method, url, headers=headers or {}, **kwargs)

    def me(self, via=None, **kwargs):
        return super().me(via=via, **kwargs)

    def direct(self, instance, path, method="GET", headers=None, timeout=15):
        """
        ``method path`` straight to one gunicorn instance, as nginx would
        ask it: from 127.0.0.1 (a trusted proxy), with this browser's
        cookies and address.
        """
        return self.send(
            requests,
            method,
            f"http://{instance.address}{path}",
            headers=proxied_headers(self.ip, headers),
            timeout=timeout,
        )


class DirectClient(Client):
    """A browser whose requests reach one gunicorn ``address`` as nginx sends them."""

    def __init__(self, address, ca, ip, headers=None, timeout=30):
        super().__init__(ca, ip, timeout)
        self.base_url = f"http://{address}"
        self.headers = headers or {}

    def request(self, method, path, *, headers=None, **kwargs):
        headers = proxied_headers(self.ip, {**self.headers, **(headers or {})})
        url = self.base_url + path
        return self.send(self.http, method, url, headers=headers, **kwargs)
