"""nginx from deploy/nginx/ventures.conf.template, and the test-only sites nginx."""

from __future__ import annotations

import os
import signal
import socket
import textwrap

from devstack.frontend import FRONTEND_DIR
from devstack.hosts import (
    API_HOST,
    API_ORIGIN,
    EVIL_HOST,
    FRONTEND_HOST,
    PATREON_HOST,
)
from devstack.processes import (
    ROOT,
    Process,
    StackError,
    free_port,
    program,
    run,
    tail,
    wait_for,
)


def main_context(directory, worker_connections):
    """nginx.conf's first line: a master in the foreground, files in ``directory``."""
    return (
        f"daemon off; worker_processes 1; pid {directory / 'nginx.pid'}; "
        f"error_log {directory / 'error.log'} info; "
        f"events {{ worker_connections {worker_connections}; }}"
    )


def temp_paths(temp):
    """nginx's temporary files, on one line, all under ``temp``."""
    kinds = {"client_body": "body", "proxy": "proxy", "fastcgi": "fastcgi"}
    kinds |= {"uwsgi": "uwsgi", "scgi": "scgi"}
    return " ".join(f"{kind}_temp_path {temp}/{name};" for kind, name in kinds.items())


class NginxProcess(Process):
    """
    An nginx master in the foreground: its configuration is tested before it
    starts, it is up once ``port`` accepts, and it stops gracefully (SIGQUIT
    lets the workers finish their requests). Subclasses write ``nginx.conf``
    into ``directory`` and set ``port``.
    """

    def __init__(self, name, directory):
        argv = [program("nginx"), "-p", directory, "-c", directory / "nginx.conf"]
        argv += ["-e", directory / "error.log"]
        self.test_argv = [*argv, "-t", "-q"]
        super().__init__(name, argv, log=directory / "nginx.log")

    def start(self):
        run(self.test_argv)
        super().start()

        def up():
            if not self.running():
                raise StackError(f"{self.name} exited\n{self.tail()}")
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True

        wait_for(up, 20, self.name, log=self.tail)
        return self

    def stop(self, signum=signal.SIGQUIT, timeout=20):
        return super().stop(signum, timeout)

    def tail(self, lines=40):
        return "\n".join(
            [super().tail(lines), tail(self.directory / "error.log", lines)]
        )


class Nginx(NginxProcess):
    """
    nginx from deploy/nginx/ventures.conf.template, rendered by
    deploy/nginx/render with this stack's names, ports and certificate.

    ``location_conf`` goes where the template includes site additions inside
    ``location /``, ``http_conf`` at the http level: only the negative
    control of the isolation test uses them. With ``fake_port``, a second
    server block on a port of its own puts TLS in front of the fake Patreon.
    ``members_upstream`` keeps the template's forward-auth example:
    /members/ goes to that address for people with ``members_entitlement``.
    """

    def __init__(
        self,
        directory,
        certificates,
        upstreams,
        *,
        location_conf="",
        http_conf="",
        fake_port=None,
        members_upstream=None,
        members_entitlement=None,
    ):
        self.directory = directory
        self.https_port = free_port()
        self.http_port = free_port()
        self.fake_tls_port = free_port() if fake_port else None
        directory.mkdir(parents=True)
        # nginx's workers run as nobody when the master is root.
        directory.chmod(0o755)
        for sub in ("temp", "cache", "location.d", "http.d"):
            (directory / sub).mkdir()
        for sub in ("temp", "cache"):
            (directory / sub).chmod(0o777)
        if location_conf:
            (directory / "location.d" / "test.conf").write_text(location_conf)
        if http_conf:
            (directory / "http.d" / "test.conf").write_text(http_conf)
        self.access_log_path = directory / "access.log"
        render_env = {
            "PATH": os.environ["PATH"],
            "VENTURES_SERVER_NAME": API_HOST,
            "VENTURES_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            "VENTURES_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "VENTURES_TLS_CERTIFICATE": str(certificates.certificate),
            "VENTURES_TLS_CERTIFICATE_KEY": str(certificates.key),
            "VENTURES_UPSTREAMS": " ".join(upstreams),
            "VENTURES_ACCESS_LOG": str(self.access_log_path),
            "VENTURES_LOCATION_INCLUDES": str(directory / "location.d" / "*.conf"),
            "VENTURES_MEMBERS_UPSTREAM": members_upstream or "",
            "VENTURES_MEMBERS_ENTITLEMENT": members_entitlement or "",
        }
        rendered = run([ROOT / "deploy" / "nginx" / "render"], env=render_env).stdout
        (directory / "ventures.conf").write_text(rendered)
        fake = ""
        if fake_port:
            fake = textwrap.dedent(
                f"""
                # Test only: TLS in front of the fake Patreon, with the same
                # certificate (it names {PATREON_HOST} and 127.0.0.1).
                server {{
                    listen 127.0.0.1:{self.fake_tls_port} ssl;
                    server_name {PATREON_HOST} 127.0.0.1;
                    ssl_certificate {certificates.certificate};
                    ssl_certificate_key {certificates.key};
                    access_log {directory / "fake_patreon.access.log"};
                    location / {{
                        proxy_pass http://127.0.0.1:{fake_port};
                        proxy_set_header Host $http_host;
                    }}
                }}
                """
            )
        temp = directory / "temp"
        # The top level, as Debian's /etc/nginx/nginx.conf: it includes the
        # rendered template in the http context.
        (directory / "nginx.conf").write_text(
            textwrap.dedent(
                f"""
                {main_context(directory, 4096)}
                http {{
                    default_type application/octet-stream;
                    {temp_paths(temp)}
                    include {directory / "http.d" / "*.conf"};
                    include {directory / "ventures.conf"};
                    {fake}
                }}
                """
            )
        )
        super().__init__("nginx", directory)

    @property
    def port(self):
        return self.https_port

    @property
    def fake_base_url(self):
        return f"https://127.0.0.1:{self.fake_tls_port}"


# DATABASES


# The example page's own policy: scripts and styles from its origin only (no
# inline script), and fetch() to the API only.
FRONTEND_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    f"connect-src {API_ORIGIN}; img-src 'self' https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

EVIL_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8>"
    "<title>evil.test</title></head><body><h1>A foreign site</h1>"
    "<p>It would like to read your ventures account, or log you out.</p>"
    "</body></html>"
)


class Sites(NginxProcess):
    """
    A test-only nginx on one loopback port: ``ventures.test`` serves
    ``frontend/`` as it is in the repository, ``evil.test`` a foreign page.
    Same test CA as the stack. ``/__cookies`` on the frontend echoes the
    Cookie header the browser sent it (test-only: it shows what a shared
    cookie domain hands to the frontend's host).
    """

    def __init__(self, directory, certificate, key):
        self.directory = directory
        self.port = free_port()
        directory.mkdir(parents=True)
        directory.chmod(0o755)
        temp = directory / "temp"
        temp.mkdir()
        temp.chmod(0o777)
        tls = f"""
            ssl_certificate {certificate};
            ssl_certificate_key {key};
            ssl_protocols TLSv1.2 TLSv1.3;
        """
        evil_page = EVIL_PAGE.replace('"', '\\"')
        (directory / "nginx.conf").write_text(
            textwrap.dedent(
                f"""
                {main_context(directory, 256)}
                http {{
                    types {{
                        text/html html;
                        text/css css;
                        text/javascript js;
                        image/png png;
                    }}
                    default_type application/octet-stream;
                    charset utf-8;
                    charset_types text/css text/javascript;
                    {temp_paths(temp)}
                    access_log {directory / "access.log"};
                    server_tokens off;

                    server {{
                        listen 127.0.0.1:{self.port} ssl default_server;
                        server_name {FRONTEND_HOST};
                        {tls}
                        root {FRONTEND_DIR};
                        index index.html;
                        add_header Content-Security-Policy "{FRONTEND_CSP}" always;
                        add_header X-Content-Type-Options nosniff always;
                        add_header Cache-Control "no-store" always;
                        location = /__cookies {{
                            default_type text/plain;
                            return 200 "$http_cookie";
                        }}
                        location / {{
                            try_files $uri $uri/ =404;
                        }}
                    }}

                    server {{
                        listen 127.0.0.1:{self.port} ssl;
                        server_name {EVIL_HOST};
                        {tls}
                        location / {{
                            default_type text/html;
                            return 200 "{evil_page}";
                        }}
                    }}
                }}
                """
            )
        )
        super().__init__("sites-nginx", directory)
