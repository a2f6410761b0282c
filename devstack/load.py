"""Load: many browsers asking /api/auth/me at once, and what they got."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import requests

from devstack.processes import (
    wait_for,
)


def private_answer_problem(response, patron):
    """What is wrong with an /api/auth/me answer for ``patron``, or None."""
    if response.status_code != 200:
        return f"status {response.status_code}: {response.text[:200]}"
    try:
        got = response.json()["patreon"]["id"]
    except (ValueError, KeyError, TypeError):
        return f"not a user payload: {response.text[:200]}"
    if got != patron:
        return f"MISMATCH: patron {patron} was shown patron {got}"
    cache_control = response.headers.get("Cache-Control", "")
    if "no-store" not in cache_control or "private" not in cache_control:
        return f"Cache-Control {cache_control!r}"
    if "cookie" not in response.headers.get("Vary", "").lower():
        return f"Vary {response.headers.get('Vary')!r}"
    return None


def percentile(values, p):
    """The ``p``th percentile of ``values`` (nearest rank), 0.0 for none."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def percentile(self, p):
        """The ``p``th percentile latency, in milliseconds."""
        return percentile(self.latencies, p) * 1000

    def figures(self):
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.requests / self.seconds, 1)
            if self.seconds
            else 0,
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
            "mismatches": len(self.mismatches),
            "errors": len(self.errors),
        }


def hammer(browsers, rounds, threads=16, via=None, deadline=240):
    """
    Each browser (a (Browser, patron id) pair) asks /api/auth/me ``rounds``
    times; the browsers are split across ``threads`` threads, each of which
    walks its own browsers in turn, so requests of different people
    interleave on every connection nginx keeps to the instances.
    """
    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline
    groups = [browsers[i::threads] for i in range(threads)]

    def work(group):
        latencies, mismatches, errors = [], [], []
        for _ in range(rounds):
            for browser, patron in group:
                if time.monotonic() > stop_at:
                    errors.append("deadline passed")
                    break
                began = time.perf_counter()
                try:
                    response = browser.me(via=via)
                except requests.RequestException as error:
                    errors.append(f"{patron}: {error!r}")
                    continue
                latencies.append(time.perf_counter() - began)
                problem = private_answer_problem(response, patron)
                if problem and problem.startswith("MISMATCH"):
                    mismatches.append(problem)
                elif problem:
                    errors.append(f"{patron}: {problem}")
        with lock:
            result.requests += len(latencies)
            result.latencies += latencies
            result.mismatches += mismatches
            result.errors += errors

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [g for g in groups if g]))
    result.seconds = time.perf_counter() - began
    return result


def log_in_all(stack, patrons, threads=16, via=None):
    """Log each patron in with a browser of their own, concurrently."""

    def one(patron):
        browser = stack.browser(via)
        browser.log_in(patron)
        return browser, patron

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, patrons))


class Outcome(NamedTuple):
    time: float  # time.monotonic() when the answer (or the error) came
    patron: str
    response: requests.Response | None
    problem: str | None  # None: a correct answer


class BackgroundLoad:
    """One thread per browser asking /api/auth/me until stopped."""

    def __init__(self, browsers, pause=0.0):
        self.browsers = browsers
        self.pause = pause
        self.outcomes = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, args=pair, daemon=True)
            for pair in browsers
        ]

    def _work(self, browser, patron):
        while not self._stop.is_set():
            try:
                response = browser.me(timeout=20)
                problem = private_answer_problem(response, patron)
            except requests.RequestException as error:
                response, problem = None, repr(error)
            with self._lock:
                self.outcomes.append(
                    Outcome(time.monotonic(), patron, response, problem)
                )
            if self.pause:
                time.sleep(self.pause)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def concurrency(self):
        return len(self._threads)

    def between(self, start, end=float("inf")):
        return [o for o in self.outcomes if start <= o.time < end]

    def failures(self, start=0.0, end=float("inf")):
        return [o for o in self.between(start, end) if o.problem]

    def wait_for_requests(self, count, timeout=30):
        target = len(self.outcomes) + count
        wait_for(lambda: len(self.outcomes) >= target, timeout, "background load")
