"""
A burst of Patreon webhooks and the worker behind it: how soon every
announced change has been re-read from Patreon.

    python -m bench.rereads [--count 1000] [--seconds 10] [--concurrency 4]

Starts the stack (nginx, one gunicorn instance, a fresh database on the
machine's PostgreSQL, Redis, the fake Patreon behind TLS), gives ``--count``
members of the fake's campaign a membership row each (as after a login),
stores the creator's token as an operator would, turns on the fake's rate
limiter (Patreon's: 100 calls a minute per token, 100 per 2 s per client),
runs one full sync (production's last walk, which tells the worker what a
walk costs), starts the worker as ``ventures-worker.service`` does, then
posts one signed ``members:update`` per member, spread over ``--seconds``,
and waits until no row is left marked changed. Prints the
acknowledgements' p50/p99, how long the last re-read took after the last
webhook, and how the changes were read: one by one or by walking.
"""

import argparse
import json
import sys
import time

import psycopg
import requests

from bench import memberships
from bench.webhooks import acknowledgements, burst
from devstack.hosts import API_HOST
from devstack.postgres import SharedDatabase
from devstack.processes import ROOT, run
from devstack.stack import Stack
from fake_patreon.patrons import Directory
from fake_patreon.webhooks import WebhookSender


def unread(url):
    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(
            "SELECT count(*) FROM accounts_patreonmembership"
            " WHERE changed_at IS NOT NULL"
        ).fetchone()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with Stack("rereads", SharedDatabase(), instances=1) as stack:
        fake = f"http://127.0.0.1:{stack.fake.port}/__fake"
        requests.post(f"{fake}/campaign", json={"size": args.count}, timeout=10)
        with psycopg.connect(stack.db.url, autocommit=True) as db:
            memberships.seed(db.execute, args.count, "1 hour")
        answer = requests.post(f"{fake}/creator/token", timeout=10).json()
        run(
            [sys.executable, "manage.py", "patreon", "creator-token", "set"],
            input=json.dumps(answer),
            env=stack.app_env(),
            cwd=ROOT,
        )
        requests.post(f"{fake}/throttle", json={"limiter": True}, timeout=10)
        run(
            [sys.executable, "manage.py", "patreon", "sync", "--full"],
            env=stack.app_env(),
            cwd=ROOT,
        )
        requests.delete(f"{fake}/requests", timeout=10)
        (instance,) = stack.instances
        sender = WebhookSender(
            f"http://{instance.address}/api/patreon/webhook",
            stack.webhook_secret,
            Directory("9000001"),
            headers={"Host": API_HOST, "X-Forwarded-Proto": "https"},
        )
        deliveries = [
            sender.member_event(str(memberships.FIRST_MEMBER_ID + i))
            for i in range(args.count)
        ]
        with stack.running(stack.worker(concurrency=args.concurrency)) as worker:
            worker.settle()
            answers, took = burst(sender, deliveries, args.seconds, args.senders)
            sent = time.perf_counter()
            while (left := unread(stack.db.url)) and time.perf_counter() - sent < 600:
                time.sleep(0.5)
            done = time.perf_counter()
        calls = requests.get(f"{fake}/requests", timeout=10).json()
    reads = sum("/members/" in c["path"] for c in calls)
    pages = sum(c["path"].endswith("/members") for c in calls)
    report = (
        f"{args.count} webhooks in {took:.1f} s, {acknowledgements(answers)}; "
        f"every change re-read {done - sent:.1f} s after the last webhook "
        f"({left} left unread), worker concurrency {args.concurrency}, with"
        f" Patreon's rate limits: {reads} single-member reads and {pages}"
        " members pages (walks)."
    )
    print(report)
    memberships.save("rereads", report)


if __name__ == "__main__":
    main()
