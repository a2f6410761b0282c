"""The report's closing note: what bounds each figure, from this run's numbers."""

from __future__ import annotations

from bench import session_rows as sr
from bench.figures import (
    BIG,
    ME_RATIO_TARGET,
    cpu,
    cpu_ratios,
    med,
    ms_pair,
    ratios,
    summary,
)


def _target_gap(get, shares, app, profiles, middle, points):
    """Where /me's CPU beyond 0.6x the bare view's goes, in 0.1 ms steps."""
    bare, me = get["bare"], get["me"]
    bare_prof = profiles.get("bare", {})
    if not (bare and me and shares and bare_prof.get("shares")):
        return []
    ratio = med(cpu_ratios(points, "pg", "me", middle))
    if ratio >= ME_RATIO_TARGET:
        return []
    budget = cpu(bare) / ME_RATIO_TARGET
    bare_app = bare_prof.get("app_cpu_ms", 0.0)
    extra = {
        name: share * app - bare_prof["shares"].get(name, 0.0) * bare_app
        for name, share in shares.items()
    }
    big = [(n, ms) for n, ms in sorted(extra.items(), key=lambda kv: -kv[1])]
    big = [(n, ms) for n, ms in big if ms >= 0.05]
    return [
        f"- **The {ME_RATIO_TARGET}x target, missed** ({ratio:.2f}x by CPU at"
        f" c={middle}). At {ME_RATIO_TARGET}x, /me could cost"
        f" {budget:.2f} ms of CPU per request (the bare view's {cpu(bare):.2f} ms"
        f" ÷ {ME_RATIO_TARGET}); it costs {cpu(me):.2f} ms, {cpu(me) - budget:.2f}"
        " ms over. Beyond the bare view's, /me's gunicorn CPU goes to (py-spy,"
        " rounded to 0.1 ms): "
        + "; ".join(f"{name} {round(ms, 1):.1f} ms" for name, ms in big)
        + f"; PostgreSQL adds {me['pg'] - bare['pg']:.2f} ms."
        f" The largest part is {big[0][0]} ({big[0][1]:.2f} ms)"
        + (", the one query /me must make" if big[0][0].startswith("database") else "")
        + "; the rest is spread over parts of about a tenth of a"
        " millisecond each, none of which alone closes the gap. Reaching the"
        " target means cutting into several of them at once (fewer model"
        " instances per lookup, a cheaper session decode and auth-hash check,"
        " less middleware on /me); not attempted in issue 17."
    ]


def notes(results, points):
    """The closing note: what bounds each figure, from this run's numbers."""
    middle = results.get("middle", 16)
    lines = ["## Notes: what bounds each figure\n"]
    get = {
        key: summary(points, (config, endpoint, middle))
        for key, (config, endpoint) in {
            "bare": ("pg", "bare"),
            "me": ("pg", "me"),
            "select1": ("pg", "select1"),
            "cache": ("redis", "cache-get"),
            "before": ("pg-compiled", "me"),
            "unprepared": ("pg-unprepared", "me"),
            "hc": ("pg-hc", "me"),
            "unchecked": ("pg-nocheck", "me"),
            "hc-bare": ("pg-hc", "bare"),
            "pooled": ("pgbouncer", "me"),
            "pooled-bare": ("pgbouncer", "bare"),
        }.items()
    }
    profiles = results.get("profile") or {}
    prof = profiles.get("me", {})
    shares = prof.get("shares", {})
    app = prof.get("app_cpu_ms", 0.0)
    before_prof = profiles.get("me, before (compiled lookup)", {})

    def part(prefix, shares=shares):
        return sum(v for k, v in shares.items() if k.startswith(prefix))

    def by(config):
        return (
            f"{med(ratios(points, config, 'me', middle)):.2f}x the bare view by"
            f" req/s, {med(cpu_ratios(points, config, 'me', middle)):.2f}x by CPU"
        )

    # What every request pays, the bare view's too.
    common = ("rest of Django", "gunicorn", "access log", "the view")

    bare, me, sel = get["bare"], get["me"], get["select1"]
    if bare and me:
        text = (
            f"- **/me costs {cpu(me) / cpu(bare):.1f}x the bare view's CPU.** Per"
            f" request (gunicorn + PostgreSQL backends, c={middle}): bare"
            f" {ms_pair(bare)}, /me {ms_pair(me)}."
        )
        if shares:
            text += (
                f" py-spy puts {100 * part('ORM'):.0f}% of /me's worker CPU"
                f" ({part('ORM') * app:.2f} ms) in the session lookup's ORM work"
                " (`sessions.lookup.fetch`: `raw()`, its converters, four"
                " `Model.from_db`), the database round trip and driver at"
                f" {100 * part('database'):.0f}%, Django's cursor at"
                f" {100 * part('Django'):.0f}%; the session decode, the user"
                f" and auth-hash checks take {100 * part('session decode'):.0f}%."
                " What every request pays, the bare view's too (the rest of"
                " Django, gunicorn, the access log, the view and its JSON), is"
                f" {100 * sum(part(c) for c in common):.0f}%"
                f" ({sum(part(c) for c in common) * app:.2f} ms)."
            )
        text += (
            " On the database side psycopg has prepared the session lookup on"
            " each connection (server-side binding, `prepare_threshold=5`):"
            " PostgreSQL runs the stored plan instead of parsing and planning the"
            f" three-table join for every request, {me['pg']:.2f} ms of its CPU per"
            " /me request."
        )
        lines.append(text)
    before, unprepared = get["before"], get["unprepared"]
    if before and me:
        text = (
            "- **Before issue 14** (the hand-compiled lookup of"
            " bench/compiled_store.py, prepared the same way): /me at"
            f" {by('pg-compiled')}; {ms_pair(before)} per request, against"
            f" {ms_pair(me)} for the app now."
        )
        before_shares = before_prof.get("shares", {})
        if before_shares and shares:
            before_app = before_prof.get("app_cpu_ms", 0.0)
            lookup = part("session lookup", before_shares) + part("ORM", before_shares)
            text += (
                f" py-spy puts {lookup * before_app:.2f} ms of its"
                f" {before_app:.2f} ms of worker CPU in the lookup (the"
                " parameters, the converters, three `Model.from_db`), against"
                f" {part('ORM') * app:.2f} ms of {app:.2f} in the ORM for the"
                " app's (sessions/lookup.py): its SELECT is written once per"
                " process too, but raw() matches the row's columns to fields"
                " and converters, and builds the row and three instances, anew"
                " for every request, which the compiled lookup did once per"
                " thread."
            )
        text += (
            " Both send one three-table SELECT, prepared the same way: PostgreSQL's"
            " CPU per"
            f" request {before['pg']:.2f} ms before, {me['pg']:.2f} ms now."
        )
        lines.append(text)
    if unprepared and me:
        lines.append(
            "- **What prepared statements gain** (*client-side binding* to the"
            f" app as it is; /me at {by('pg-unprepared')} without them):"
            f" gunicorn's CPU per /me request {unprepared['app']:.2f} to"
            f" {me['app']:.2f} ms, PostgreSQL's {unprepared['pg']:.2f} to"
            f" {me['pg']:.2f} ms. By CPU, /me at"
            f" {med(cpu_ratios(points, 'pg-unprepared', 'me', middle)):.2f}x"
            " the bare view without them,"
            f" {med(cpu_ratios(points, 'pg', 'me', middle)):.2f}x with."
        )
    if sel and bare:
        ref = (
            f"- **The floor for any database-backed request.** A view doing one raw"
            f" `SELECT 1` costs {ms_pair(sel)}"
            f" ({med(cpu_ratios(points, 'pg', 'select1', middle)):.2f}x the bare"
            " view by CPU,"
            f" {med(ratios(points, 'pg', 'select1', middle)):.2f}x by req/s): its"
            " round trip and Django's cursor"
            " path. /me cannot be cheaper than that plus its own work (the session"
            " lookup's parameters and instances, the session decode, the auth-hash"
            " check, the payload)."
        )
        if get["cache"]:
            ref += (
                " A `cache.get` from Redis costs"
                f" {get['cache']['app']:.2f} ms of gunicorn CPU"
                f" ({med(cpu_ratios(points, 'redis', 'cache-get', middle)):.2f}x the"
                " bare view by CPU,"
                f" {med(ratios(points, 'redis', 'cache-get', middle)):.2f}x by"
                " req/s)."
            )
        lines.append(ref)
    hc, unchecked = get["hc"], get["unchecked"]
    if hc and unchecked and me:
        lines.append(
            "- **The health-check round trip** (issue 17). With Django's own"
            " check (`CONN_HEALTH_CHECKS` on its PostgreSQL backend: a `SELECT 1`"
            f" before each request's first query), as until then, /me was at"
            f" {by('pg-hc')}; {ms_pair(hc)} per request, against {ms_pair(me)}"
            " with the app's check, which reads the connection's socket instead"
            f" (ventures.postgresql), and {ms_pair(unchecked)} with no check at"
            f" all ({by('pg-nocheck')}). The bare view, which runs no query,"
            " pays for neither. tests/test_stack.py restarts PostgreSQL between"
            " requests, and no request fails."
        )
    pooled = get["pooled"]
    if pooled and me:
        lines.append(
            "- **Through PgBouncer** (transaction mode, `DATABASE_POOLER=transaction`):"
            f" /me at {by('pgbouncer')}; {ms_pair(pooled)} per request (gunicorn +"
            " PostgreSQL + PgBouncer) against"
            f" {ms_pair(me)} straight to PostgreSQL. Without prepared statements"
            " PostgreSQL parses and plans the session lookup for every request"
            " (as *client-side binding* shows), and PgBouncer adds a hop and its"
            " own CPU; what it buys is PostgreSQL's connections: `default_pool_size`"
            " server connections whatever the number of instances"
            " (docs/capacity.md)."
        )
    lines += _target_gap(get, shares, app, profiles, middle, points)
    if shares:
        top = sorted(shares.items(), key=lambda kv: -kv[1])[:4]
        lines.append(
            f"- **What bounds /me now.** py-spy on the app ({app:.2f} ms of"
            " gunicorn CPU per request), its largest shares: "
            + "; ".join(
                f"{name} {100 * share:.0f}% ({share * app:.2f} ms)"
                for name, share in top
            )
            + "."
        )
        bare_prof = profiles.get("bare", {})
        if bare_prof.get("shares"):
            bare_app = bare_prof.get("app_cpu_ms", 0.0)
            extra = {
                name: share * app - bare_prof["shares"].get(name, 0.0) * bare_app
                for name, share in shares.items()
            }
            top = sorted(extra.items(), key=lambda kv: -kv[1])[:4]
            lines[-1] += (
                f" Against the bare view ({bare_app:.2f} ms), /me's extra"
                f" {app - bare_app:.2f} ms of gunicorn CPU goes mostly to: "
                + "; ".join(f"{name} {ms:+.2f} ms" for name, ms in top)
                + "."
            )
    redis_me = summary(points, ("redis", "me", middle))
    if redis_me and me:
        lines.append(
            "- **Redis.** /me never touches the cache (sessions are rows in"
            " PostgreSQL; Redis holds the login rate limits and the readiness"
            f" probe's key), so REDIS_URL changes nothing on it: {ms_pair(redis_me)}"
            f" with Redis against {ms_pair(me)} without."
        )
    runs = [r for r in results.get("wrk", []) if r["config"] == "pg-recycle"]
    if runs:
        boots = sum(r["workers_booted"] for r in runs)
        served = sum(r["requests"] for r in runs)
        slowest = min(runs, key=lambda r: r["rps"])
        text = (
            "- **Worker recycling.** *max_requests=1000* (+ up to 100 jitter,"
            " gunicorn.conf.py's default until it became 20,000 + up to 2,000)"
            " restarts each worker after a thousand-odd requests. A worker is"
            " not preloaded: it imports Django, allauth and"
            " the app and runs the policy checks itself (importing ventures.wsgi"
            " alone takes about 1.3 CPU-seconds on an idle machine, seconds of"
            f" wall time on a loaded one). Here {boots} workers booted while"
            f" that instance served {served:,} requests (at these rates a worker"
            " boots every few seconds). Its slowest run served"
            f" {slowest['rps']:,.0f} req/s ({slowest['endpoint']},"
            f" {slowest['requests']:,} requests in {slowest['seconds']:.0f} s)"
        )
        if slowest["requests"] == 0:
            text += (
                ": both workers, started together and loaded evenly, were booting"
                " at once and the instance answered nothing"
            )
        text += "."
        recycled = summary(points, ("pg-recycle", "me", middle))
        if recycled and me:
            text += (
                f" /me cost {recycled['app']:.2f} ms of gunicorn CPU per request"
                f" there, against {me['app']:.2f} ms without recycling."
            )
        lines.append(
            text + " At the default of 20,000 a worker boots about twenty times"
            " less often. The other configurations run with"
            " `GUNICORN_MAX_REQUESTS=0`, so that ratios compare requests, not"
            " boots."
        )
    big = (results.get("rows") or {}).get(BIG)
    if big:
        lines.append(
            f"- **Admin session list.** With 1M rows the page's"
            f" {big[sr.ADMIN_QUERIES]} queries take {big[sr.ADMIN_SQL]:.1f} ms of"
            f" {big[sr.ADMIN]:.0f} ms; the rest is the admin rendering 50 rows"
            " (`items_for_result`: an action checkbox rendered through the form"
            " templates, then three dates and the other cells per row), the same"
            " at any table size. Filtering to active sessions takes"
            f" {big[sr.ADMIN_ACTIVE]:.0f} ms: a filtered list is counted exactly"
            " (EstimatedCountPaginator estimates unfiltered lists only), a count"
            " over half a million rows."
        )
        lines.append(
            "- **Revoking** (`revoke()`: the owners for the log line, then one"
            " DELETE, both by the user's index):"
            f" {big[sr.REVOKE]:.1f} ms at 1M rows, flat in the table's size."
        )
        lines.append(
            f"- **Cleanup.** {big[sr.BATCHES]:,} batches of 1000 took"
            f" {big[sr.CLEANUP]:.0f} s; the median batch {big[sr.MEDIAN_BATCH]:.0f} ms,"
            f" the longest {big[sr.LONGEST_BATCH]:.0f} ms (selecting the next keys,"
            " which locks no row, included). The longest DELETE transaction held"
            f" its row locks {big[sr.LONGEST_LOCK]:.0f} ms. Those are locks on"
            " expired rows only, which no request reads; only a revocation of the"
            " same user can wait on them: the probe's longest wait was"
            f" {big[sr.LONGEST_WAIT]:.0f} ms, and pg_locks, sampled every few"
            f" milliseconds, showed at most {big[sr.LOCK_WAITERS]} waiter(s)."
        )
    return "\n".join(lines) + "\n"
