"""
A burst of Patreon webhooks against one gunicorn instance, as ``ventures@N``
runs it: how fast each delivery is acknowledged.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME \\
    REDIS_URL=redis://127.0.0.1:6379/15 python -m bench.webhooks

Migrates that database, starts gunicorn from ``gunicorn.conf.py`` on a free
loopback port, and sends ``--count`` signed ``members:*`` deliveries (the
fake's sender) spread evenly over ``--seconds``, from ``--senders``
threads, with the X-Forwarded-Proto nginx adds; then prints p50/p99/max of
the acknowledgements. Patreon's flush of a paused webhook's queue is such a
burst; the target is p99 < 100 ms for 1,000 in 10 s.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devstack.gunicorn import Gunicorn
from devstack.hosts import API_HOST
from devstack.processes import ROOT, free_port, run
from fake_patreon.patrons import Directory
from fake_patreon.webhooks import WebhookSender

SECRET = secrets.token_urlsafe(32)


def environment(database_url, redis_url):
    """A production environment (DEBUG off, the policy enforced) on loopback."""
    return {
        **os.environ,
        "ENV_FILE": "",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": API_HOST,
        "FRONTEND_ORIGINS": "https://ventures.test",
        "TRUSTED_PROXIES": "127.0.0.1",
        "PATREON_CLIENT_ID": "bench",
        "PATREON_CLIENT_SECRET": "bench",
        "PATREON_CAMPAIGN_ID": "9000001",
        "PATREON_WEBHOOK_SECRETS": SECRET,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
    }


def burst(sender, deliveries, seconds, senders):
    """
    Send ``deliveries`` as ``sender`` would, spread evenly over ``seconds``
    from ``senders`` threads; their answers, and how long sending took.
    """
    # One session per thread: requests' Session is not thread-safe.
    local = threading.local()
    started = time.perf_counter()

    def send(numbered):
        number, delivery = numbered
        delay = started + number * seconds / len(deliveries)
        time.sleep(max(0.0, delay - time.perf_counter()))
        if not hasattr(local, "sender"):
            local.sender = WebhookSender(
                sender.url, sender.secret, sender.directory, headers=sender.headers
            )
        return local.sender.send(delivery)

    with ThreadPoolExecutor(max_workers=senders) as pool:
        answers = list(pool.map(send, enumerate(deliveries)))
    return answers, time.perf_counter() - started


def acknowledgements(answers):
    """How many answers were 200, and their latency's p50, p99 and max."""
    seconds = sorted(a.seconds for a in answers)
    return (
        f"{sum(a.status == 200 for a in answers)} acknowledged: "
        f"p50 {statistics.median(seconds) * 1000:.1f} ms, "
        f"p99 {seconds[max(0, int(len(seconds) * 0.99) - 1)] * 1000:.1f} ms, "
        f"max {seconds[-1] * 1000:.1f} ms"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=16)
    args = parser.parse_args()
    env = environment(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
    run([sys.executable, "manage.py", "migrate", "--no-input"], env=env, cwd=ROOT)
    directory = Directory("9000001")
    # A fresh run's deliveries are new: each one's body differs from the last run's.
    run_id = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "gunicorn.log"
        server = Gunicorn("ventures@bench", free_port(), env, log)
        server.start()
        try:
            server.wait_ready()
            sender = WebhookSender(
                f"http://{server.address}/api/patreon/webhook",
                SECRET,
                directory,
                headers={"Host": API_HOST, "X-Forwarded-Proto": "https"},
            )
            deliveries = [
                sender.member_event(str(100000 + i), note=f"run {run_id}")
                for i in range(args.count)
            ]
            answers, elapsed = burst(sender, deliveries, args.seconds, args.senders)
        finally:
            server.stop()
    statuses = statistics.multimode(a.status for a in answers)
    print(
        f"{args.count} webhooks in {elapsed:.1f} s (statuses {statuses}), "
        f"{acknowledgements(answers)}"
    )


if __name__ == "__main__":
    main()
