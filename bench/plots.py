"""The report's plots (matplotlib, from bench/requirements.txt)."""

from __future__ import annotations

from bench import session_rows as sr
from bench.figures import (
    ADMIN_TARGET_MS,
    LOCK_TARGET_MS,
    ME_RATIO_TARGET,
    REVOKE_TARGET_MS,
    cpu_ratios,
    main_configs,
    med,
    ratios,
    summary,
    variant_configs,
)


def plot_rows(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results.get("rows")
    if not rows:
        return False
    sizes = sorted(int(k) for k in rows)
    series = [
        (sr.REVOKE, "revoke one user's sessions", REVOKE_TARGET_MS),
        (sr.ADMIN, "admin session list page", ADMIN_TARGET_MS),
        (sr.OWN, "user's own session list", None),
        (sr.LONGEST_LOCK, "longest cleanup DELETE (lock held)", LOCK_TARGET_MS),
        (sr.LONGEST_WAIT, "longest wait of a concurrent revocation", None),
    ]
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    for key, label, target in series:
        values = [rows[str(s)][key] for s in sizes]
        (line,) = ax.plot(sizes, values, marker="o", label=label)
        if target:
            ax.axhline(target, color=line.get_color(), linestyle=":", linewidth=1)
            ax.annotate(
                f"target {target:,} ms",
                (sizes[-1], target),
                textcoords="offset points",
                xytext=(0, 3),
                ha="right",
                fontsize=7,
                color=line.get_color(),
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.set_xlabel("session rows in accounts_session")
    ax.set_ylabel("milliseconds (median; log scale)")
    ax.set_title("Session administration cost vs number of session rows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_throughput(results, points, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = results["args"]["connections"]
    middle = results["middle"]
    main = main_configs(results, points)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 4.8), dpi=110, gridspec_kw={"width_ratios": [1, 1.2]}
    )
    width = 0.8 / max(len(main), 1)
    top = 1.0
    for i, key in enumerate(main):
        xs, ys, lo, hi = [], [], [], []
        for j, c in enumerate(levels):
            values = ratios(points, key, "me", c)
            if not values:
                continue
            xs.append(j + (i - (len(main) - 1) / 2) * width)
            ys.append(med(values))
            lo.append(med(values) - min(values))
            hi.append(max(values) - med(values))
        left.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=results["configs"][key])
        top = max([top, *(y + h + 0.05 for y, h in zip(ys, hi, strict=True))])
    left.axhline(ME_RATIO_TARGET, color="red", linestyle="--", linewidth=1)
    left.set_xticks(range(len(levels)), [f"wrk -c{c}" for c in levels])
    left.set_ylim(0, top)
    left.set_ylabel("/api/auth/me req/s ÷ bare view req/s")
    left.set_title("/me as a ratio of the ceiling (median, range)")
    left.legend(fontsize=8, loc="upper left")
    left.grid(True, axis="y", alpha=0.3)

    keys = [*main, *variant_configs(results, points)]
    names = {
        "pg": "PostgreSQL\n(the app as it is)",
        "redis": "PostgreSQL + Redis",
        "pg-compiled": "before: compiled lookup",
        "pg-unprepared": "client-side binding",
        "pg-hc": "SELECT 1 health check",
        "pg-nocheck": "no health check",
        "pgbouncer": "PgBouncer",
        "pg-recycle": "max_requests=1000",
    }
    ys, lo, hi, labels, texts, cpus = [], [], [], [], [], []
    for key in keys:
        values = ratios(points, key, "me", middle)
        if not values:
            continue
        ys.append(med(values))
        lo.append(med(values) - min(values))
        hi.append(max(values) - med(values))
        cpus.append(med(cpu_ratios(points, key, "me", middle)))
        labels.append(names.get(key, key))
        me = summary(points, (key, "me", middle))
        bare = summary(points, (key, "bare", middle))
        texts.append(f"{me['rps']:,.0f} / {bare['rps']:,.0f} req/s")
    positions = list(range(len(ys)))[::-1]
    palette = {
        "pg": "#1f77b4",
        "redis": "#ff7f0e",
        "pg-compiled": "#9467bd",
        "pg-unprepared": "#c5b0d5",
        "pg-hc": "#2ca02c",
        "pg-nocheck": "#98df8a",
        "pgbouncer": "#17becf",
        "pg-recycle": "#999999",
    }
    colors = [palette.get(k, "#2ca02c") for k in keys][: len(ys)]
    right.barh(positions, ys, xerr=[lo, hi], capsize=3, color=colors)
    right.scatter(
        cpus,
        positions,
        marker="D",
        color="black",
        zorder=3,
        s=18,
        label="bare ÷ /me CPU per request",
    )
    for y, value, cpu_value, text in zip(positions, ys, cpus, texts, strict=True):
        right.annotate(
            f"{value:.2f}x req/s, {cpu_value:.2f}x CPU  ({text})",
            (max(value, cpu_value), y),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=7,
        )
    right.legend(fontsize=7, loc="lower right")
    right.axvline(ME_RATIO_TARGET, color="red", linestyle="--", linewidth=1)
    right.text(
        ME_RATIO_TARGET,
        1.005,
        f" target {ME_RATIO_TARGET}x",
        transform=right.get_xaxis_transform(),
        fontsize=8,
        color="red",
        va="bottom",
    )
    right.set_yticks(positions, labels, fontsize=8)
    right.set_xlim(0, 1.3)
    right.set_xlabel("/me req/s ÷ bare req/s (median, range)")
    right.set_title(f"Per configuration, wrk -c{middle}", pad=14)
    right.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
