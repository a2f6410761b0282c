"""The example frontend as ``make run`` serves it, the API's origin filled in."""

import pytest
import requests

from devstack.frontend import FRONTEND_DIR, FrontendServer

API_ORIGIN = "http://localhost:8000"


@pytest.fixture(scope="module")
def frontend():
    with FrontendServer(API_ORIGIN) as server:
        yield server


def url(server, path):
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_the_page_calls_the_api_it_was_given(frontend):
    response = requests.get(url(frontend, "/"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'<meta name="api-origin" content="{API_ORIGIN}">' in response.text
    assert "api.ventures.test" not in response.text
    assert response.text.count("api-origin") == (
        (FRONTEND_DIR / "index.html").read_text().count("api-origin")
    )


def test_the_files_on_disk_are_left_as_a_frontend_developer_copies_them(frontend):
    requests.get(url(frontend, "/index.html"), timeout=5)
    assert 'content="https://api.ventures.test"' in (
        (FRONTEND_DIR / "index.html").read_text()
    )


def test_scripts_and_styles_are_served_as_they_are(frontend):
    for name, kind in [("app.js", "javascript"), ("style.css", "text/css")]:
        response = requests.get(url(frontend, f"/{name}"), timeout=5)
        assert response.status_code == 200
        assert kind in response.headers["Content-Type"]
        assert response.content == (FRONTEND_DIR / name).read_bytes()


def test_every_answer_carries_the_pages_strict_policy(frontend):
    for path in ("/", "/app.js", "/missing"):
        headers = requests.get(url(frontend, path), timeout=5).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy
        assert f"connect-src {API_ORIGIN};" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store"


def test_head_of_the_page_has_no_body(frontend):
    response = requests.head(url(frontend, "/"), timeout=5)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) > 0
    assert response.content == b""


def test_nothing_outside_frontend_is_served(frontend):
    for path in ("/../manage.py", "/%2e%2e/manage.py", "/missing.js"):
        assert requests.get(url(frontend, path), timeout=5).status_code == 404


@pytest.mark.parametrize(
    "origin", ["localhost:8000", "ftp://localhost", "http://localhost:8000/api"]
)
def test_an_api_origin_that_is_not_an_origin_is_refused(origin):
    with pytest.raises(ValueError, match="is not an origin"):
        FrontendServer(origin)


def test_an_index_page_without_the_meta_tag_is_refused(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>")
    with pytest.raises(ValueError, match="api-origin"):
        FrontendServer(API_ORIGIN, directory=tmp_path)
