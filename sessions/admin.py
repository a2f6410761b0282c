"""
The session list staff use to inspect and revoke sessions.

It stays fast with a million rows: no full count, one query for the page
(users and memberships joined), and sorting only on indexed columns. It is
laid out for a 1280 px screen: browsers as "Chrome 131 on Linux" and times
as "5 minutes ago", the raw user agent and the exact time on hover. Every
revocation goes through ``Session.objects...revoke()`` and is recorded in
each owner's admin history with that owner's own count.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince, timeuntil

from sessions import user_agents
from sessions.models import Session


class EstimatedCountPaginator(Paginator):
    """
    On PostgreSQL, the list's default view (``estimate``) is counted from the
    planner's row estimate instead of a full scan: a count of a million rows
    on every page load buys staff nothing. Filtered lists are counted exactly.
    """

    estimate = True

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and self.estimate:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 10_000:
                return row[0]
        return super().count


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.active()
        if self.value() == "expired":
            return queryset.expired()
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    AGES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [
            ("1h", "Started in the last hour"),
            ("1d", "Started in the last day"),
            ("7d", "Started in the last 7 days"),
            ("older", "Older than 7 days"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() in self.AGES:
            return queryset.filter(created_at__gte=now - self.AGES[self.value()])
        if self.value() == "older":
            return queryset.filter(created_at__lt=now - self.AGES["7d"])
        return queryset


class OwnerFilter(admin.SimpleListFilter):
    """
    Rows without a user only carry a login's OAuth state, left behind by
    abandoned and denied logins until SESSION_ANONYMOUS_TIMEOUT: hidden
    unless asked for.
    """

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [("anonymous", "Logins in progress"), ("all", "All")]

    def value(self):
        value = super().value()
        return value if value in {"anonymous", "all"} else None

    def choices(self, changelist):
        # Django's first choice, without the parameter, is "All"; here it is
        # the default view.
        default, *others = super().choices(changelist)
        yield {**default, "display": "Logged in"}
        yield from others

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset.filter(user__isnull=False)
        if self.value() == "anonymous":
            return queryset.filter(user__isnull=True)
        return queryset


def moment(value):
    """
    A time as staff skim it ("5 minutes ago", "in 23 hours"), the exact time
    on hover. One unit only ("1 day", not humanize's "1 day, 2 hours"), so
    the columns stay narrow.
    """
    now = timezone.now()
    if abs(now - value) < timedelta(minutes=1):
        relative = "now"
    elif value < now:
        relative = f"{timesince(value, now, depth=1)} ago"
    else:
        relative = f"in {timeuntil(value, now, depth=1)}"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        format_date(timezone.localtime(value), "Y-m-d H:i:s T"),
        relative,
    )


def revoke_and_record(request, sessions, scope, history):
    """
    Revoke ``sessions`` as the admin's user and record it in each owner's
    admin history with that owner's own count ("Revoked 2 session(s)
    (``history``)."). Return how many sessions ended in all.
    """
    counts = sessions.count_by_owner()
    total = sessions.revoke(by=request.user, request=request, scope=scope)
    owners = get_user_model()._default_manager.in_bulk(counts)
    for user_id, count in counts.items():
        if user_id in owners:
            LogEntry.objects.log_actions(
                request.user.pk,
                [owners[user_id]],
                CHANGE,
                change_message=f"Revoked {count} session(s) ({history}).",
                single_object=True,
            )
    return total


def login_if_own_session_ended(request):
    """
    After a revocation: the login page if it ended the admin's own session (a
    message saved into a session that is gone would answer 400), else None.
    """
    if Session.objects.filter(pk=request.session.row_key).exists():
        return None
    return redirect("login")


def revoke_sessions_of_users(model_admin, request, users):
    """
    An admin action's end of every session of ``users`` (ids or instances):
    recorded, then reported, or the login page if it ended the admin's own.
    """
    count = revoke_and_record(
        request,
        Session.objects.filter(user__in=users),
        "users",
        "all of the user's sessions",
    )
    if ended := login_if_own_session_ended(request):
        return ended
    model_admin.message_user(
        request,
        f"Revoked {count} session(s) of {len(users)} user(s).",
        messages.SUCCESS,
    )
    return None


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "patreon_id",
        "ip",
        "browser",
        "created",
        "seen",
        "expires",
        "is_active",
    ]
    list_select_related = ["user", "user__patreon"]
    list_filter = [OwnerFilter, StateFilter, AgeFilter]
    search_fields = [
        "user__username",
        "user__email",
        "=user__patreon__patreon_id",
        "^ip",
    ]
    sortable_by = ["created", "expires"]
    ordering = ["-created_at"]
    fields = ["user", "patreon_id", "ip", "user_agent", "created_at", "last_seen"]
    readonly_fields = fields
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    actions = ["revoke_selected", "revoke_all_of_users"]
    change_list_template = "admin/sessions/session/change_list.html"
    list_per_page = 50

    def get_queryset(self, request):
        # The encoded data is never shown; don't fetch it for a page of rows.
        return super().get_queryset(request).defer("session_data")

    def get_paginator(self, request, *args, **kwargs):
        paginator = super().get_paginator(request, *args, **kwargs)
        # Only the default view (people's sessions, in any order, any page)
        # is estimated: the anonymous rows it hides are few and short-lived.
        paginator.estimate = set(request.GET) <= {ORDER_VAR, PAGE_VAR}
        return paginator

    @admin.display(description="Patreon id", ordering="user__patreon__patreon_id")
    def patreon_id(self, session):
        membership = getattr(session.user, "patreon", None) if session.user else None
        return membership.patreon_id if membership else "-"

    @admin.display(description="browser")
    def browser(self, session):
        return format_html(
            '<span title="{}">{}</span>',
            session.user_agent,
            Truncator(user_agents.describe(session.user_agent)).chars(40),
        )

    @admin.display(description="created", ordering="created_at")
    def created(self, session):
        return moment(session.created_at)

    @admin.display(description="last seen")
    def seen(self, session):
        return moment(session.last_seen)

    @admin.display(description="expires", ordering="expire_date")
    def expires(self, session):
        return moment(session.expire_date)

    @admin.display(boolean=True, description="active")
    def is_active(self, session):
        return session.is_live()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Deleting rows is revoking: only through our logged actions.
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Revoke selected sessions", permissions=["delete"])
    def revoke_selected(self, request, queryset):
        count = revoke_and_record(request, queryset, "selected", "selected by staff")
        if ended := login_if_own_session_ended(request):
            return ended
        self.message_user(request, f"Revoked {count} session(s).", messages.SUCCESS)

    @admin.action(
        description="Revoke all sessions of the selected sessions' users",
        permissions=["delete"],
    )
    def revoke_all_of_users(self, request, queryset):
        users = set(queryset.exclude(user=None).values_list("user", flat=True))
        return revoke_sessions_of_users(self, request, users)

    def delete_model(self, request, obj):
        revoke_and_record(
            request, Session.objects.filter(pk=obj.pk), "selected", "deleted by staff"
        )

    def get_urls(self):
        return [
            path(
                "revoke-everything/",
                self.admin_site.admin_view(self.revoke_everything_view),
                name="sessions_session_revoke_everything",
            ),
            *super().get_urls(),
        ]

    def revoke_everything_view(self, request):
        """Log everyone out, after a confirmation page. Staff included."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            count = Session.objects.all().revoke(
                by=request.user, request=request, scope="everyone"
            )
            LogEntry.objects.create(
                user=request.user,
                content_type=ContentType.objects.get_for_model(Session),
                object_id="*",
                object_repr="every session",
                action_flag=DELETION,
                change_message=f"Revoked every session ({count}).",
            )
            # The revoker's own session went too: back to the login page.
            return redirect("login")
        context = {
            **self.admin_site.each_context(request),
            "title": "Revoke every session?",
            "opts": self.model._meta,
            "active_count": Session.objects.active().count(),
        }
        return TemplateResponse(
            request, "admin/sessions/session/revoke_everything.html", context
        )


class SessionInline(admin.TabularInline):
    model = Session
    can_delete = False
    extra = 0
    fields = ["ip", "user_agent", "created_at", "last_seen", "expire_date"]
    readonly_fields = fields
    ordering = ["-created_at"]
    verbose_name_plural = "sessions (revoke them with the button above)"

    def has_add_permission(self, request, obj=None):
        return False

    # Shown, never edited: an editable inline would also demand each row's
    # key hash back from the form, and refuse to save the user without it.
    def has_change_permission(self, request, obj=None):
        return False
