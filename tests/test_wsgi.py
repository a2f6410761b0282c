"""gunicorn serves the app only under a correct production policy."""

import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.environments import ROOT, production_env

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
