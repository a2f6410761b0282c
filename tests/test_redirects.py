"""Where people may be sent after logging in: our paths and the frontend only."""

import pytest

from accounts.redirects import is_allowed_next


@pytest.fixture(autouse=True)
def frontend_origin(settings):
    """The frontend at https://ventures.test, for every test here."""
    settings.FRONTEND_ORIGINS = ["https://ventures.test"]


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/api/auth/me",
        "https://ventures.test",
        "https://ventures.test/",
        "https://ventures.test/x?y=1#z",
    ],
)
def test_our_paths_and_the_frontend_are_allowed(url):
    assert is_allowed_next(url) is True


def test_the_frontend_origin_matches_whatever_its_case():
    assert is_allowed_next("HTTPS://Ventures.Test/account") is True


def test_an_origin_configured_with_a_trailing_slash_still_matches(settings):
    settings.FRONTEND_ORIGINS = ["https://ventures.test/"]
    assert is_allowed_next("https://ventures.test/account") is True


def test_every_configured_frontend_origin_is_allowed(settings):
    settings.FRONTEND_ORIGINS = ["https://ventures.test", "https://beta.ventures.test"]
    assert is_allowed_next("https://beta.ventures.test/x") is True


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "https://evil.example/https://ventures.test",
        "//evil.example",
        "//evil",
        "///evil",
        "/\\evil",
        "\\\\evil",
        "\\/evil",
        "https:evil",
        "https:/evil",
        "https:///evil",
        "ventures.test",
        "evil.example/",
    ],
)
def test_other_hosts_are_refused(url):
    assert is_allowed_next(url) is False


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "javascript://ventures.test/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "ftp://ventures.test/",
    ],
)
def test_other_schemes_are_refused(url):
    assert is_allowed_next(url) is False


def test_the_frontend_host_over_http_is_refused():
    assert is_allowed_next("http://ventures.test/") is False


def test_the_frontend_host_on_another_port_is_refused():
    assert is_allowed_next("https://ventures.test:444/") is False


@pytest.mark.parametrize(
    "url",
    [
        "https://sub.ventures.test/",
        "https://evil.ventures.test/",
        "https://ventures.test.evil.example/",
        "https://ventures.test./",
        "https://xventures.test/",
    ],
)
def test_look_alike_hosts_are_refused(url):
    assert is_allowed_next(url) is False


@pytest.mark.parametrize(
    "url",
    [
        "https://ventures.test@evil.example/",
        "https://ventures.test:443@evil.example/",
        "https://ventures.test\\@evil.example/",
        "https://evil.example\\@ventures.test/",
        "https://user:password@ventures.test/",
    ],
)
def test_credentials_in_the_url_are_refused(url):
    assert is_allowed_next(url) is False


@pytest.mark.parametrize(
    "url",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "\x01https://evil.example",
        " https://evil.example",
        "/x\r\nSet-Cookie: a=b",
        "/x\nLocation: https://evil.example",
        "https://ventures.test/\nx",
        "https://ventures.test\t/",
        "https://ventures.test/\x00",
        "/\x7f",
    ],
    ids=[
        "tab after slash",
        "newline after slash",
        "carriage return after slash",
        "leading control character",
        "leading space",
        "CRLF and a header in a path",
        "newline in a path",
        "newline in a frontend URL",
        "tab in the frontend host",
        "NUL in a frontend URL",
        "DEL in a path",
    ],
)
def test_urls_with_control_characters_are_refused(url):
    assert is_allowed_next(url) is False


@pytest.mark.parametrize("value", [None, "", b"/", 1, ["/"], {"/": 1}], ids=repr)
def test_empty_values_and_non_strings_are_refused(value):
    assert is_allowed_next(value) is False
