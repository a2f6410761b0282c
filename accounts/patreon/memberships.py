"""
The membership snapshot: writing what a read of Patreon said, and noting
what a webhook announced.

Every read carries the time its request started. A row is overwritten only
by a read that started after the one that wrote it, in one conditional
UPDATE, so a slow or reordered read (a login, a webhook's re-read, a sync
page) never rolls the row back. Webhooks are signals, not state: they only
mark a row changed (``changed_at``) until a read started after them lands.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Case, F, Q, Value, When

from accounts.models import PatreonMembership

# A change announced by a webhook is normally re-read within seconds; one
# still unread after this long makes the row stale (the worker is behind).
CHANGE_REREAD_WITHIN = timedelta(minutes=10)

# The snapshot's keys: the columns a read of Patreon writes.
SNAPSHOT_FIELDS = (
    "campaign_id",
    "member_id",
    "patron_status",
    "entitled_amount_cents",
    "tiers",
    "last_charge_status",
    "last_charge_date",
    "next_charge_date",
    "pledge_relationship_start",
    "will_pay_amount_cents",
    "is_free_trial",
    "is_gifted",
)


DATE_FIELDS = ("last_charge_date", "next_charge_date", "pledge_relationship_start")


def to_extra_data(snapshot, read_started_at):
    """
    ``snapshot`` and when its read started, as JSON (ISO 8601 dates): how a
    login carries them in the social account's extra_data to ``record_login``.
    """
    dates = {name: snapshot[name] for name in DATE_FIELDS if name in snapshot}
    return {
        **snapshot,
        **{name: value and value.isoformat() for name, value in dates.items()},
        "read_started_at": read_started_at.isoformat(),
    }


def from_extra_data(data):
    """(snapshot, read_started_at) back from ``to_extra_data``'s JSON."""
    snapshot = {name: data[name] for name in SNAPSHOT_FIELDS if name in data}
    for name in DATE_FIELDS:
        if snapshot.get(name):
            snapshot[name] = datetime.fromisoformat(snapshot[name])
    return snapshot, datetime.fromisoformat(data["read_started_at"])


def apply(patreon_id, snapshot, *, read_started_at, source, user=None):
    """
    Write ``snapshot`` (identity.membership's dict) to ``patreon_id``'s row
    if the read that produced it started after the one that wrote the row;
    return the number of rows written (0 or 1).

    A known patron's row is updated in one conditional UPDATE; ``changed_at``
    is cleared only if the read started after the change was announced.
    Without a row, one is inserted for ``user`` (a login); without a user
    (a webhook's re-read, a sync) an unknown patron is nobody of ours.
    """
    values = {name: snapshot[name] for name in SNAPSHOT_FIELDS if name in snapshot}
    written = apply_to(
        PatreonMembership.objects.filter(patreon_id=patreon_id),
        snapshot,
        read_started_at=read_started_at,
        source=source,
    )
    if written or user is None:
        return written
    if PatreonMembership.objects.filter(patreon_id=patreon_id).exists():
        return 0  # a newer read wrote it
    try:
        # A savepoint: a concurrent login's insert wins the race without
        # breaking the caller's transaction.
        with transaction.atomic():
            PatreonMembership.objects.create(
                user=user,
                patreon_id=patreon_id,
                synced_at=read_started_at,
                source=source,
                paid_tiers=values.get("tiers", []),
                **values,
            )
    except IntegrityError:
        if not PatreonMembership.objects.filter(patreon_id=patreon_id).exists():
            raise  # not the race below: the database refused the row
        # A concurrent login inserted it first: newer or not, the UPDATE decides.
        return apply(
            patreon_id, snapshot, read_started_at=read_started_at, source=source
        )
    return 1


def keeps_paid_tiers(snapshot):
    """
    Whether a write of ``snapshot`` keeps the row's ``paid_tiers``: Patreon
    lists no tiers for a declined patron, whose grace needs what they paid
    for. Any other read sets them to what it lists.
    """
    return not snapshot.get("tiers") and snapshot.get("patron_status") == (
        "declined_patron"
    )


def apply_to(rows, snapshot, *, read_started_at, source):
    """
    Write ``snapshot`` to each of ``rows`` (a queryset) that no read started
    at or after ``read_started_at`` has written, in one UPDATE; return how
    many were written. ``changed_at`` is cleared where the read started
    after the change was announced.
    """
    values = {name: snapshot[name] for name in SNAPSHOT_FIELDS if name in snapshot}
    if not keeps_paid_tiers(snapshot):
        values["paid_tiers"] = snapshot.get("tiers", [])
    return rows.filter(synced_at__lt=read_started_at).update(
        **values,
        synced_at=read_started_at,
        source=source,
        changed_at=Case(
            When(changed_at__lt=read_started_at, then=Value(None)),
            default=F("changed_at"),
        ),
    )


def apply_many(snapshots, *, read_started_at, source):
    """
    ``apply`` for many known patrons at once (``snapshots``: Patreon id to
    snapshot, every SNAPSHOT_FIELDS key present), as one read that started
    at ``read_started_at`` (a sync page); return how many rows were written.

    The same conditional UPDATE as ``apply_to``, run for every patron with
    ``executemany`` (psycopg pipelines it): a page of 1,000 in a few round
    trips, where the ORM would make one each, or build a 15,000-branch CASE
    for ``bulk_update``. Values are prepared by the fields themselves.
    """
    if not snapshots:
        return 0
    alias = router.db_for_write(PatreonMembership)
    connection = connections[alias]
    quote = connection.ops.quote_name
    meta = PatreonMembership._meta
    fields = [meta.get_field(name) for name in SNAPSHOT_FIELDS]
    paid = meta.get_field("paid_tiers")
    synced, changed, source_column, patreon_id, paid_column = (
        quote(meta.get_field(name).column)
        for name in ("synced_at", "changed_at", "source", "patreon_id", "paid_tiers")
    )
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608 (names from _meta)
        + ", ".join(f"{quote(field.column)} = %s" for field in fields)
        + f", {synced} = %s, {source_column} = %s, {changed} = CASE WHEN"
        f" {changed} < %s THEN NULL ELSE {changed} END, {paid_column} = CASE"
        f" WHEN %s THEN {paid_column} ELSE %s END"
        f" WHERE {patreon_id} = %s AND {synced} < %s"
    )
    at = meta.get_field("synced_at").get_db_prep_save(read_started_at, connection)
    params = [
        [
            *(
                field.get_db_prep_save(snapshot[field.name], connection)
                for field in fields
            ),
            at,
            source,
            at,
            keeps_paid_tiers(snapshot),
            paid.get_db_prep_save(snapshot["tiers"], connection),
            key,
            at,
        ]
        for key, snapshot in snapshots.items()
    ]
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.executemany(sql, params)
        return cursor.rowcount


def mark_changed(patreon_id, at):
    """
    Note that Patreon announced (a webhook, received ``at``) a change of
    ``patreon_id``'s membership; return the number of rows marked (0 or 1).

    A row a read started at or after ``at`` has written already shows the
    change, and a later announcement already marked stays: both count 0,
    like a patron who is nobody of ours.
    """
    return (
        PatreonMembership.objects.filter(patreon_id=patreon_id, synced_at__lt=at)
        .filter(Q(changed_at__isnull=True) | Q(changed_at__lt=at))
        .update(changed_at=at)
    )


def exists(patreon_id):
    """Whether anyone here has logged in with ``patreon_id``."""
    return PatreonMembership.objects.filter(patreon_id=patreon_id).exists()


def stale(now):
    """
    The rows whose snapshot is stale at ``now``: read longer ago than
    PATREON_STALE_AFTER, or announced changed and not re-read within
    CHANGE_REREAD_WITHIN.
    """
    return Q(synced_at__lt=now - timedelta(seconds=settings.PATREON_STALE_AFTER)) | Q(
        changed_at__lt=now - CHANGE_REREAD_WITHIN
    )


def is_stale(membership, now):
    """Whether ``membership`` is stale at ``now`` (as ``stale`` selects them)."""
    too_old = now - membership.synced_at > timedelta(
        seconds=settings.PATREON_STALE_AFTER
    )
    unread = (
        membership.changed_at is not None
        and now - membership.changed_at > CHANGE_REREAD_WITHIN
    )
    return too_old or unread
