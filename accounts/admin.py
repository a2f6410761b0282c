"""
The Django admin for staff: inspect and revoke sessions, manage users.

Two roles reach it (docs/security.md, "Roles and authorization").
Superusers may do anything. Staff (the Staff group, granted by a superuser:
accounts/management/commands/staff.py) inspect and revoke sessions, view
users and memberships and (de)activate users; they never see or change
privileges (is_superuser, is_staff, groups, permissions), passwords, or a
superuser's row. Every decision is made per request in the ModelAdmins'
hooks below, so a form posted with privileged fields added finds no field to
take them.

Every revocation goes through ``accounts.revocation`` and is recorded in the
admin's history. The session list stays fast with a million rows: no full
count, one query for the page (users and memberships joined), and sorting
only on indexed columns. It is laid out for a 1280 px screen: browsers as
"Chrome 131 on Linux" and times as "5 minutes ago", the raw user agent and
the exact time on hover.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection, models
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince, timeuntil

from accounts import revocation, user_agents
from accounts.models import PatreonMembership, Session, User


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
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(expire_date__gt=now)
        if self.value() == "expired":
            return queryset.filter(expire_date__lte=now)
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


def log_revocation(request, users, count, scope):
    """Record a revocation in each affected user's admin history."""
    for user in users:
        LogEntry.objects.log_actions(
            request.user.pk,
            [user],
            CHANGE,
            change_message=f"Revoked {count} session(s) ({scope}).",
            single_object=True,
        )


def is_superuser(request):
    """Whether the admin's user holds every privilege (the role above staff)."""
    return request.user.is_active and request.user.is_superuser


def login_if_own_session_ended(request):
    """
    After a revocation: the login page if it ended the admin's own session (a
    message saved into a session that is gone would answer 400), else None.
    """
    if Session.objects.filter(pk=request.session.row_key).exists():
        return None
    return redirect("login")


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
    change_list_template = "admin/accounts/session/change_list.html"
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
        return session.expire_date > timezone.now()

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
        users = list(User.objects.filter(sessions__in=queryset).distinct())
        count = revocation.revoke_sessions(queryset, by=request.user, request=request)
        log_revocation(request, users, count, "selected by staff")
        if ended := login_if_own_session_ended(request):
            return ended
        self.message_user(request, f"Revoked {count} session(s).", messages.SUCCESS)

    @admin.action(
        description="Revoke all sessions of the selected sessions' users",
        permissions=["delete"],
    )
    def revoke_all_of_users(self, request, queryset):
        users = list(User.objects.filter(sessions__in=queryset).distinct())
        count = revocation.revoke_user_sessions(users, by=request.user, request=request)
        log_revocation(request, users, count, "all of the user's sessions")
        if ended := login_if_own_session_ended(request):
            return ended
        self.message_user(
            request,
            f"Revoked {count} session(s) of {len(users)} user(s).",
            messages.SUCCESS,
        )

    def delete_model(self, request, obj):
        revocation.revoke_sessions(
            Session.objects.filter(pk=obj.pk), by=request.user, request=request
        )
        if obj.user:
            log_revocation(request, [obj.user], 1, "deleted by staff")

    def get_urls(self):
        return [
            path(
                "revoke-everything/",
                self.admin_site.admin_view(self.revoke_everything_view),
                name="accounts_session_revoke_everything",
            ),
            *super().get_urls(),
        ]

    def revoke_everything_view(self, request):
        """Log everyone out, after a confirmation page. Staff included."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            count = revocation.revoke_every_session(by=request.user, request=request)
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
            "active_count": revocation.active(Session.objects.all()).count(),
        }
        return TemplateResponse(
            request, "admin/accounts/session/revoke_everything.html", context
        )


class PatreonMembershipInline(admin.StackedInline):
    model = PatreonMembership
    can_delete = False
    readonly_fields = [
        "patreon_id",
        "campaign_id",
        "patron_status",
        "entitled_amount_cents",
        "tiers",
        "checked_at",
    ]
    fields = readonly_fields

    # A snapshot of what Patreon said at the last login: only a login writes it.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


# What staff see of a user: who they are and whether they may log in.
STAFF_USER_FIELDSETS = [
    (None, {"fields": ["username"]}),
    ("Personal info", {"fields": ["first_name", "last_name", "email"]}),
    ("Access", {"fields": ["is_active"]}),
    ("Important dates", {"fields": ["last_login", "date_joined"]}),
    ("Patreon profile", {"fields": ["name", "avatar_url", "email_verified"]}),
]
# The one field staff change: deactivating a user ends their sessions' use.
STAFF_EDITABLE_USER_FIELDS = {"is_active"}
# Changelist lookups (filters, ?field=value) that would tell staff who holds
# privileges (Django's UserAdmin already refuses password lookups).
PRIVILEGED_LOOKUPS = ("is_superuser", "is_staff", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "name", "email", "patreon_id", "is_staff", "is_active"]
    list_select_related = ["patreon"]
    search_fields = ["username", "name", "email", "=patreon__patreon_id"]
    inlines = [PatreonMembershipInline, SessionInline]
    actions = ["revoke_sessions"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Patreon profile", {"fields": ["name", "avatar_url", "email_verified"]}),
    ]
    # Patreon's word, copied at each login (accounts.receivers).
    readonly_fields = ["email_verified"]
    change_form_template = "admin/accounts/user/change_form.html"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Patreon id", ordering="patreon__patreon_id")
    def patreon_id(self, user):
        membership = getattr(user, "patreon", None)
        return membership.patreon_id if membership else "-"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_superuser(request):
            return queryset
        # A superuser's row does not exist for staff: no view, change,
        # history, password or revocation reaches it.
        return queryset.filter(is_superuser=False)

    def has_add_permission(self, request):
        return is_superuser(request) and super().has_add_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._may_see(request, obj) and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_see(request, obj) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None):
        return is_superuser(request) and super().has_delete_permission(request, obj)

    def has_revoke_permission(self, request):
        """Ending a user's sessions is the session admin's delete."""
        return request.user.has_perm("accounts.delete_session")

    def _may_see(self, request, user):
        return user is None or is_superuser(request) or not user.is_superuser

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not is_superuser(request):
            return STAFF_USER_FIELDSETS
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if is_superuser(request):
            return super().get_readonly_fields(request, obj)
        return [
            field
            for _, options in STAFF_USER_FIELDSETS
            for field in options["fields"]
            if field not in STAFF_EDITABLE_USER_FIELDS
        ]

    def get_form(self, request, obj=None, **kwargs):
        if not is_superuser(request):
            # UserChangeForm declares the password field (and links to the
            # password form); staff get a plain form of their fieldsets.
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, **kwargs)

    def get_list_display(self, request):
        if is_superuser(request):
            return self.list_display
        return [f for f in self.list_display if f not in PRIVILEGED_LOOKUPS]

    def get_list_filter(self, request):
        if is_superuser(request):
            return super().get_list_filter(request)
        return ["is_active"]

    def lookup_allowed(self, lookup, value, request=None):
        privileged = lookup.split("__")[0] in PRIVILEGED_LOOKUPS
        if privileged and (request is None or not is_superuser(request)):
            return False
        return super().lookup_allowed(lookup, value, request)

    def user_change_password(self, request, id, form_url=""):
        """Passwords are the superuser's: staff get 403 before any lookup."""
        if not is_superuser(request):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    @admin.action(
        description="Revoke all sessions of the selected users",
        permissions=["revoke"],
    )
    def revoke_sessions(self, request, queryset):
        users = list(queryset)
        count = revocation.revoke_user_sessions(users, by=request.user, request=request)
        log_revocation(request, users, count, "all of the user's sessions")
        if ended := login_if_own_session_ended(request):
            return ended
        self.message_user(
            request,
            f"Revoked {count} session(s) of {len(users)} user(s).",
            messages.SUCCESS,
        )

    def get_urls(self):
        return [
            path(
                "<int:user_id>/revoke-sessions/",
                self.admin_site.admin_view(self.revoke_sessions_view),
                name="accounts_user_revoke_sessions",
            ),
            *super().get_urls(),
        ]

    def revoke_sessions_view(self, request, user_id):
        """The user page's "Revoke all sessions" button (POST only)."""
        if request.method != "POST" or not self.has_revoke_permission(request):
            raise PermissionDenied
        user = get_object_or_404(self.get_queryset(request), pk=user_id)
        count = revocation.revoke_user_sessions(
            [user], by=request.user, request=request
        )
        log_revocation(request, [user], count, "all of the user's sessions")
        if ended := login_if_own_session_ended(request):
            return ended
        self.message_user(request, f"Revoked {count} session(s) of {user}.")
        return redirect("admin:accounts_user_change", user.pk)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Groups carry permissions: only a superuser sees or changes them."""

    def has_module_permission(self, request):
        return is_superuser(request)

    def has_view_permission(self, request, obj=None):
        return is_superuser(request)

    def has_add_permission(self, request):
        return is_superuser(request)

    def has_change_permission(self, request, obj=None):
        return is_superuser(request)

    def has_delete_permission(self, request, obj=None):
        return is_superuser(request)
