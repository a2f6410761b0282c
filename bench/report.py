"""
docs/performance.md and its plots, from the results python -m bench saved.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench import memberships
from bench.figures import (
    index,
)
from bench.notes import notes
from bench.plots import plot_rows, plot_throughput
from bench.tables import (
    login_table,
    lookup_table,
    memory_table,
    profile_table,
    query_table,
    reference_table,
    rows_table,
    targets,
    throughput_table,
    variants_table,
)

PROTOTYPE = [
    ("bare Django JSON view, full middleware", "1.00x (1,600-2,100 req/s)"),
    ("stock `django.contrib.sessions.backends.db` + user lookup", "0.20x"),
    ("stock `cached_db` sessions with Redis", "0.24x"),
    ("signed-cookie sessions (cannot be revoked)", "0.29x"),
    ("one `cache.get` from Redis", "0.65x"),
    ("one raw `SELECT 1` through Django's connection", "0.75x"),
]

# Not measured by make bench: tests/test_concurrency.py prints these figures
# (pytest -s); quoted here so a new report keeps them.
EMBEDDED_SQLITE = """\
## The embedded SQLite default

Measured by `tests/test_concurrency.py`, not by `make bench` (`.venv/bin/python \
-m pytest -n 0 -s tests/test_concurrency.py` prints each burst's figures): 30 \
different patrons start the whole Patreon login at the same moment (login page, \
its button, the fake's consent, the callback, then `/api/auth/me`) against \
`manage.py runserver` in development mode, as `make run` serves it, each with a \
client address of its own. Five runs of the module on the 2 shared cores (load \
average 4-6), 2026-12-01:

| database | failed logins (of 30) | successful logins/s, median (range) |
| --- | ---: | ---: |
| SQLite file, as Django leaves it: rollback journal, deferred transactions, \
5 s busy timeout | 6-13 (8-22 in earlier runs), each a 500 "database is locked" \
| 5.2 (3.5-9.1) |
| SQLite file, as `ventures/settings.py` sets it: WAL, `transaction_mode=IMMEDIATE`, \
20 s busy timeout, `synchronous=NORMAL` | 0 | 16.7 (13.5-19.4) |
| PostgreSQL 15, a fresh database | 0 | 17.8 (11.2-21.1) |

Under Django's defaults a transaction begins deferred: `update_or_create` in the \
login's `record_login` reads, then writes, and when another connection holds the \
write lock SQLite cannot let a reader upgrade (both would wait forever), so it \
fails it at once, without waiting for the busy timeout. `IMMEDIATE` takes the \
write lock at `BEGIN`, where the busy timeout does wait; WAL lets readers (every \
`/api/auth/me`) go on while one connection writes. A login writes in about 8 \
short transactions (sessions, state, user and account, membership): a few \
milliseconds each, 134 ms at most under this load, none across a call to \
Patreon; one SQLite file thus serializes some 25 logins/s here, far more than \
a small team's morning. runserver serves each client connection in a new \
thread with a new database connection, which costs PostgreSQL more to open \
than SQLite, so the two come out even here; production serves PostgreSQL from \
gunicorn with persistent connections (above).
"""


# Why and how the app's lookup skips the ORM's compiler: true of the code as
# long as sessions/lookup.py is written this way. The profile's shares were
# measured once (2026-12-01), not by make bench.
LOOKUP_WHY = """\
Where the ORM lookup's CPU goes (cProfile of 3,000 lookups on SQLite, \
2026-12-01, not re-measured by `make bench`): compiling the SQL 49% (the \
three-table SELECT of every column of the three models; `get_select` with the \
related selections alone is a third), building the filter 17% (clone, `Q` \
resolution), rows to three instances with the converters 13%, executing 6%; \
PostgreSQL's compiler costs more (quoting, join clauses). Variants of the ORM \
lookup tried then (the queryset built per request or once, `session_key__in` \
or `pk__in`, `defer()` of the columns /me never reads, `.iterator()`, \
`order_by("pk")[:1]` or `.first()` instead of `min()`) all cost about twice the \
app's lookup or more. Django has no public API to keep a compiled query, so \
the app skips the compiler instead.
"""

LOOKUP_HOW = """\
How, through public API only (`sessions/lookup.py`, `sessions/models.py`): \
`raw()` converts the columns of its own model only, so `SessionRow` is an \
unmanaged model (no table) whose fields are copies of Session's, User's and \
PatreonMembership's concrete fields, taken from `_meta` when the models load \
(`deconstruct()`, without keys, indexes, defaults and relations; a foreign key \
becomes a column of its target's type), named `session_…`, `user_…`, \
`membership_…`. The SELECT (session LEFT JOIN user LEFT JOIN membership, each \
column aliased to its copy's name, the live rule of `live_sql()` and \
`session_key IN (…)`) is written once per database and number of hashes from \
the models' `db_table` and columns, quoted by the connection. Per request \
`SessionRow.objects.raw(sql, params)` runs it and Django converts every column \
(JSON `tiers`, SQLite's naive datetimes and integer booleans) as the ORM \
would; the lowest hash is picked with `min()` (at most one row per hash), the \
three instances are built from the converted values with `Model.from_db`, and \
linked by assignment (`session.user = …`, `user.patreon = …`; an owner without \
membership has "none" cached, as `select_related` does). Still one statement, \
the same text every request, so psycopg still prepares it. What remains per \
request is Django's: `RawQuerySet` resolving the row's{columns} columns and \
their converters, and four `Model.__init__` (the row and three instances). \
Costs of the design: a migration records `SessionRow` once (`CreateModel`, \
`managed=False`: no table; Django never compares an unmanaged model's fields \
again, so later changes to the three models need no migration), and its \
manager's querysets are empty, because `dumpdata` and the like read every \
registered model, unmanaged ones too.
"""


def lookup_section(results):
    """The session lookups timed in-process (bench.lookups): table and prose."""
    timed = results.get("lookups")
    parts = ["### The session lookup alone, in-process\n"]
    if not timed:
        parts.append("(not measured in this run)\n")
        columns = ""
    else:
        vendor = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(
            timed["vendor"], timed["vendor"]
        )
        best = timed["ms"]
        parts.append(
            "The three lookups without HTTP or load (bench/lookups.py): in the"
            " bench's own process, with the bench settings and the bench's"
            f" {vendor} database (100,000 background session rows), one session"
            " row with its owner and membership, two key hashes per lookup (the"
            " cookie key's under SECRET_KEY, the row's, and under one fallback"
            " secret, which matches no row), each variant first checked to find"
            " that row, its owner and membership."
            " CPU time of this process (`time.process_time()`: Django and"
            " psycopg, not PostgreSQL's backend), best of"
            f" {timed['repeats']} x {timed['count']:,} lookups per variant,"
            " the runs interleaved and their order rotating, at load average"
            f" {' '.join(map(str, timed['loadavg']))}. {vendor} only: the bench"
            " has no SQLite configuration (tests/bench/test_lookups.py runs the"
            " same code on the tests' database, SQLite by default).\n"
        )
        parts.append(lookup_table(results) + "\n")
        parts.append(
            f"The ORM lookup costs {best['orm'] / best['now']:.1f}x the app's"
            f" lookup in this process's CPU; the app's costs"
            f" {best['now'] / best['before']:.1f}x the hand-compiled baseline,"
            " which compiled the query once per thread through ORM internals"
            " and only executed it per request. The database's side is one"
            " three-table SELECT for all three, prepared on PostgreSQL (the"
            " variants table above has PostgreSQL's CPU per /me request under"
            " load, before and now).\n"
        )
        columns = f" {timed['columns']}"
    parts.append(LOOKUP_WHY)
    parts.append(LOOKUP_HOW.format(columns=columns))
    return "\n".join(parts)


def write(results, out):
    out = Path(out)
    points = index(results.get("wrk", []))
    plots = {}
    try:
        rows_png = out.with_name("performance-rows.png")
        if plot_rows(results, rows_png):
            plots["rows"] = rows_png.name
        ratio_png = out.with_name("performance-throughput.png")
        if plot_throughput(results, points, ratio_png):
            plots["throughput"] = ratio_png.name
    except ImportError:
        plots = {}
    out.write_text(render(results, points, plots))


def database_sentence(db):
    """The app's database connection settings, as this run found them."""
    if not db:
        return ""
    text = (
        "The app's database connection (ventures/settings.py), as the main"
        f" configurations ran it: `CONN_MAX_AGE={db['CONN_MAX_AGE']}`,"
        f" `CONN_HEALTH_CHECKS={db['CONN_HEALTH_CHECKS']}`"
    )
    if db.get("server_side_binding"):
        return text + (
            ", psycopg's server-side binding with"
            f" `prepare_threshold={db['prepare_threshold']}`: psycopg prepares a"
            f" statement once it has run {db['prepare_threshold']} times on a"
            " connection, so PostgreSQL parses and plans the session lookup once"
            " per connection, not per request."
        )
    return text + (
        ", client-side binding (Django's default): no statement is prepared,"
        " PostgreSQL parses and plans every query."
    )


def render(results, points, plots):
    m = results["machine"]
    a = results["args"]
    v = results.get("versions", {})
    middle = results.get("middle", 16)
    parts = []
    add = parts.append
    add("# Performance\n")
    arguments = results["command"].removeprefix("python -m bench").strip()
    make = f"make bench BENCH_ARGS='{arguments}'" if arguments else "make bench"
    add(
        "Generated by `make bench` (bench/__main__.py); do not edit by hand, run"
        " it again. Everything below comes from one run of:\n"
    )
    add(f"```sh\n{make}\n```\n")
    add(
        "`make bench` installs what the benchmark needs (the virtualenv,"
        " `bench/requirements.txt` with matplotlib and py-spy, nginx and wrk),"
        " then runs `.venv/bin/python -m bench $(BENCH_ARGS)`; once those are"
        " installed, the equivalent is"
        f" `{' '.join(['.venv/bin/python -m bench', arguments]).strip()}`.\n"
    )
    add(
        f"Run {results['started']}, took {results.get('runtime_seconds', 0) // 60} min "
        f"{results.get('runtime_seconds', 0) % 60} s. "
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, "
        f"Linux {m['kernel']}, load average at start {' '.join(m['loadavg_at_start'])}"
        " (a shared, noisy machine: compare numbers of the same run only). "
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".\n"
    )
    add(
        "Setup: gunicorn from `gunicorn.conf.py` (gthread, WEB_CONCURRENCY=2 workers"
        " x 4 threads, production settings with"
        " `DJANGO_SETTINGS_MODULE=bench.settings`,"
        " which only adds the reference views of `bench/urls.py`), one instance per"
        " configuration; a throwaway database on the machine's PostgreSQL; a throwaway"
        " redis-server; the fake Patreon behind nginx's TLS (test CA). wrk runs on the"
        f" same 2 cores, `-t2 -c{{{','.join(map(str, a['connections']))}}}"
        f" -d{a['seconds']}s`,"
        f" {a['runs']} run(s) per point, interleaved (bare and /me alternate, their"
        " order flips every run); ratios are taken per run, then the median. Requests"
        " go straight to gunicorn as nginx would send them (`X-Forwarded-Proto: https`"
        " from the trusted proxy, an `Origin` of the frontend); /me walks the cookies"
        f" of all {2 * a['logins']} patrons logged in through the fake, on a table of"
        " 100,000 more session rows. "
        + database_sentence(results.get("database"))
        + " The configurations run with"
        " `GUNICORN_MAX_REQUESTS=0` (no worker recycling, steady state), but for"
        " *max_requests=1000*, which recycles each worker after 1,000 requests"
        " (+ up to 100; gunicorn.conf.py's default is now 20,000 + up to 2,000;"
        " see the notes). *Ratios by CPU* divide the CPU per request (gunicorn, its"
        " PostgreSQL backends and wrk, from /proc) of the bare view by /me's: on"
        " a CPU-bound machine without neighbours that is the throughput ratio,"
        " and it is much steadier than req/s here.\n"
    )
    if "repeated" in results:
        repeated = results["repeated"]
        add(
            "wrk opens its connections when a run starts, and which gunicorn worker"
            " accepts each one is a race: now and then one worker gets them all and"
            " the other sits idle, which cuts any endpoint's throughput by half or"
            " more. A measured run (or a profile) in which one worker did more"
            " than 90% of the workers' CPU is therefore run again, up to"
            f" {results.get('attempts', 3)} times in all: {len(repeated)} run(s)"
            " were repeated in this one"
            + (
                " ("
                + ", ".join(
                    f"{config} {endpoint} c={c}" + (f" x{n}" if n > 1 else "")
                    for (config, endpoint, c), n in Counter(
                        (r["config"], r["endpoint"], r["connections"]) for r in repeated
                    ).items()
                )
                + ")"
                if repeated
                else ""
            )
            + ".\n"
        )

    add("## Targets\n")
    add("| target | measured | |\n| --- | --- | --- |")
    for target, measured, ok in targets(results, points):
        add(f"| {target} | {measured} | {ok} |")
    add("")

    add("## /api/auth/me against the bare view\n")
    if "throughput" in plots:
        add(f"![/me throughput ratio per configuration]({plots['throughput']})\n")
    add(throughput_table(results, points) + "\n")
    add(
        "Variants, measured in the same run at the middle concurrency level."
        " *PostgreSQL* is the app as it is: its session lookup"
        " (`sessions.lookup.fetch`) goes through Django's public API: a SELECT"
        " written once per process from the models' metadata, run with"
        " `raw()` on an unmanaged model copying the three models' fields (so"
        " Django converts every column) and turned into three model instances"
        " with `Model.from_db` on every request; psycopg"
        " prepares the statement on each connection (server-side binding,"
        " `prepare_threshold=5`). *Before* is the app as it was until issue 14:"
        " the same query compiled by hand once per thread and connection"
        " (`bench/compiled_store.py`, reaching into ORM internals:"
        " `Field.get_col`, converters called by hand) and only executed per"
        " request, everything else identical, prepared statements included:"
        " from *before* to *PostgreSQL* is what the public-API lookup costs."
        " *Client-side binding* is the app with Django's default binding"
        " (nothing prepared: PostgreSQL parses and plans the join for every"
        " request): from it to *PostgreSQL* is what prepared statements gain."
        " The app checks a reused connection before each request's first"
        " query (`CONN_HEALTH_CHECKS`) by reading its socket, with no round"
        " trip (ventures.postgresql). *Django's SELECT 1 health check* is the"
        " app as it was until issue 17, on Django's own PostgreSQL backend,"
        " whose check is a `SELECT 1` round trip; *no connection health check*"
        " checks nothing (a request after a PostgreSQL restart fails): between"
        " the two and *PostgreSQL* is what each check costs."
        " *Through PgBouncer* is the app with `DATABASE_POOLER=transaction`"
        " behind Debian's PgBouncer in transaction mode (deploy/pgbouncer.ini)"
        " in front of the same database: client-side binding, nothing"
        " prepared, one more hop; its CPU per request includes PgBouncer's."
        " *max_requests=1000* is the app recycling each worker every 1,000"
        " requests (+ up to 100; the other configurations run with"
        " `GUNICORN_MAX_REQUESTS=0`). /me's CPU per request is split into"
        " gunicorn (*app*), the bench database's PostgreSQL backends (and"
        " PgBouncer, when in front).\n"
    )
    add(variants_table(results, points) + "\n")
    add(
        f"Reference views and CPU per request (c={middle}): *app* is gunicorn's"
        " CPU (master and workers), *PostgreSQL* the bench database's backends,"
        " *rest* the machine's other busy CPU during the run (kernel threads,"
        " Redis, and whatever else runs on this shared machine: mostly noise),"
        " *wrk* the load generator's.\n"
    )
    add(reference_table(results, points) + "\n")

    add("### Where /me's CPU goes (py-spy)\n")
    add(
        "py-spy `--gil` on both workers: *me* (the app as it is) and *bare* on"
        " the PostgreSQL configuration, *me, before (compiled lookup)* on the app"
        " with the lookup it had before issue 14 (bench/compiled_store.py);"
        f" c={middle}, 8 s"
        " per endpoint; each sample goes to the first row whose frames it contains;"
        " ms/req is the share times the measured gunicorn CPU per request.\n"
    )
    add(profile_table(results) + "\n")
    add(lookup_section(results))

    add("## SQL per request\n")
    add(
        "In-process (Django's test client, bench settings, the same database), the"
        " last of three identical requests; *health-check round trips* are the"
        " round trips to PostgreSQL beyond Django's query log (counted in"
        " libpq's trace of the connection: each ends with a ReadyForQuery),"
        " which Django's own `CONN_HEALTH_CHECKS` would spend on a `SELECT 1`"
        " before the first query of every request; the app's check reads the"
        " connection's socket instead (ventures.postgresql).\n"
    )
    add(query_table(results) + "\n")

    add("## Logins through the fake Patreon\n")
    add(
        "Each login: the login page, its button, the fake's consent (prepared"
        " first), then the callback, timed: the app exchanges the code and fetches"
        " the identity (two HTTPS calls to the fake through nginx), creates the user"
        " and membership, and starts the session. A new patron and a new client"
        " address per login, so rate limits apply as in production.\n"
    )
    add(login_table(results) + "\n")

    add("## Memory\n")
    add(
        "Peak RSS (VmHWM) of each gunicorn worker, sampled twice a second through"
        " every phase under load.\n"
    )
    add(memory_table(results) + "\n")

    add("## Session rows\n")
    add(
        "In-process with the app's own code (bench/session_rows.py): N rows, 10 per"
        " user, half expired; medians of 5. Revoking ="
        ' `user.sessions.all().revoke(scope="users")` (the `Session` queryset\'s'
        " `revoke()`, as the admin and the API end sessions) for a user with 10"
        " live sessions; the admin list is `/admin/sessions/session/` as a"
        " superuser (SQL vs the rest, i.e."
        " rendering); cleanup = `SessionStore.clear_expired(batch_size=1000)`, the"
        " lock held is one batch's DELETE transaction, from the DELETE to its commit,"
        " while a second connection keeps locking (`FOR UPDATE`) the rows of a user"
        " at the head of cleanup's queue.\n"
    )
    if "rows" in plots:
        add(f"![cost vs number of session rows]({plots['rows']})\n")
    add(rows_table(results) + "\n")

    add(EMBEDDED_SQLITE)
    add("## The prototype's numbers (issue 7, not measured here)\n")
    add(
        "Measured on a prototype on this kind of machine (gunicorn, 2 sync workers,"
        " wrk -c16, PostgreSQL and Redis on loopback), quoted for context; this app's"
        " custom session store cannot run the stock backends, so they are not"
        " re-measured:\n"
    )
    add("| prototype view | throughput ÷ bare |\n| --- | --- |")
    for name, value in PROTOTYPE:
        add(f"| {name} | {value} |")
    add("")
    add(memberships.section())
    add(notes(results, points))
    return "\n".join(parts).rstrip() + "\n"
