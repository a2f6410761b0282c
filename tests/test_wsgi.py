"""gunicorn serves the app only under a correct production policy."""

import http.client
import subprocess
import sys
import time

import pytest
import requests

from devstack.processes import free_port
from tests.environments import ROOT, production_env

pytestmark = pytest.mark.slow


def gunicorn(env, port):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "ventures.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_gunicorn_with_a_broken_environment_exits_and_serves_nothing():
    port = free_port()
    server = gunicorn(production_env(SESSION_COOKIE_DOMAIN=".app"), port)
    try:
        output, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode != 0
    assert "ventures.E031" in output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_gunicorn_with_a_correct_environment_serves():
    port = free_port()
    server = gunicorn(production_env(), port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(
                    f"http://127.0.0.1:{port}/healthz",
                    headers={"Host": "api.ventures.isharehow.app"},
                    timeout=10,
                )
                break
            except (requests.ConnectionError, requests.Timeout):
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def get(port, path, source, headers):
    """``GET path`` on 127.0.0.1:port from the loopback address ``source``."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(
            "GET", path, headers={"Host": "api.ventures.isharehow.app", **headers}
        )
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_gunicorn_believes_x_forwarded_proto_from_the_trusted_proxy_only():
    """
    TRUSTED_PROXIES is 127.0.0.2; 127.0.0.1 reaches gunicorn directly, as
    anything on the host (or a misconfigured firewall) would.
    """
    port = free_port()
    server = gunicorn(production_env(TRUSTED_PROXIES="127.0.0.2"), port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(port, "/healthz", "127.0.0.1", {})
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline
                time.sleep(0.2)
        https = {"X-Forwarded-Proto": "https"}
        direct = get(port, "/api/auth/me", "127.0.0.1", https)
        proxied = get(port, "/api/auth/me", "127.0.0.2", https)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert direct.status == 301
    assert direct.getheader("Location").startswith("https://")
    assert direct.getheader("Strict-Transport-Security") is None
    assert proxied.status == 401
    assert proxied.getheader("Strict-Transport-Security")
