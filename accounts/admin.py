"""
The Django admin for staff: manage users (the session list is sessions.admin).

Two roles reach it (docs/security.md, "Roles and authorization").
Superusers may do anything. Staff (the Staff group, granted by a superuser:
accounts/management/commands/staff.py) inspect and revoke sessions, view
users and memberships and (de)activate users; they never see or change
privileges (is_superuser, is_staff, groups, permissions), passwords, or a
superuser's row. Every decision is made per request in the ModelAdmins'
hooks below, so a form posted with privileged fields added finds no field to
take them.

Revoking a user's sessions goes through ``sessions.admin.revoke_and_record``
and is recorded in the user's admin history.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import timezone
from django.utils.timesince import timesince
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import PatreonMembership, SyncRun, User, WebhookDelivery
from accounts.patreon import memberships
from sessions.admin import (
    SessionInline,
    login_if_own_session_ended,
    revoke_and_record,
    revoke_sessions_of_users,
)


def is_superuser(request):
    """Whether the admin's user holds every privilege (the role above staff)."""
    return request.user.is_active and request.user.is_superuser


# What Patreon said, and how fresh it is (accounts.patreon.memberships).
MEMBERSHIP_FIELDS = [
    "patreon_id",
    *memberships.SNAPSHOT_FIELDS,
    "synced_at",
    "source",
    "changed_at",
]


class PatreonMembershipInline(admin.StackedInline):
    model = PatreonMembership
    can_delete = False
    readonly_fields = MEMBERSHIP_FIELDS
    fields = readonly_fields

    # A snapshot of what Patreon last said: only a read of Patreon writes it.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
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
        return request.user.has_perm("sessions.delete_session")

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
        return revoke_sessions_of_users(self, request, list(queryset))

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
        count = revoke_and_record(
            request, user.sessions.all(), "users", "all of the user's sessions"
        )
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


class StaleFilter(admin.SimpleListFilter):
    """Stale snapshots, as /api/auth/me reports them (memberships.stale)."""

    title = "staleness"
    parameter_name = "stale"

    def lookups(self, request, model_admin):
        return [("yes", "Stale"), ("no", "Fresh")]

    def queryset(self, request, queryset):
        stale = memberships.stale(timezone.now())
        if self.value() == "yes":
            return queryset.filter(stale)
        if self.value() == "no":
            return queryset.exclude(stale)
        return queryset


@admin.register(PatreonMembership)
class PatreonMembershipAdmin(admin.ModelAdmin):
    """
    Every membership snapshot, read-only: staff and superusers view them
    (view_patreonmembership); only reads of Patreon write them, so nobody
    adds, changes or deletes one by hand (it goes with its user).
    """

    list_display = [
        "user",
        "patreon_id",
        "patron_status",
        "tier_titles",
        "last_charge",
        "synced",
        "source",
        "freshness",
    ]
    list_select_related = ["user"]
    list_filter = ["source", StaleFilter, "patron_status", "last_charge_status"]
    search_fields = ["=patreon_id", "user__username"]
    ordering = ["synced_at"]
    fields = readonly_fields = ["user", *MEMBERSHIP_FIELDS]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_superuser(request):
            return queryset
        # As in UserAdmin: a superuser's rows do not exist for staff.
        return queryset.filter(user__is_superuser=False)

    @admin.display(description="tiers")
    def tier_titles(self, membership):
        return ", ".join(tier.get("title") or tier["id"] for tier in membership.tiers)

    @admin.display(description="last charge", ordering="last_charge_date")
    def last_charge(self, membership):
        status, when = membership.last_charge_status, membership.last_charge_date
        if not status:
            return "-"
        return f"{status}, {when:%Y-%m-%d}" if when else status

    @admin.display(description="synced", ordering="synced_at")
    def synced(self, membership):
        return f"{timesince(membership.synced_at)} ago"

    @admin.display(description="stale / changed")
    def freshness(self, membership):
        state = "stale" if memberships.is_stale(membership, timezone.now()) else "fresh"
        if membership.changed_at is None:
            return state
        return f"{state}, changed {timesince(membership.changed_at)} ago"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting a user (the superuser's) takes their snapshot along, and
        # Django asks this admin for that cascade. A snapshot alone is never
        # deleted here: no delete view, action or button (below).
        return is_superuser(request)

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_delete": False}
        return super().change_view(request, object_id, form_url, extra_context)


class RecordAdmin(admin.ModelAdmin):
    """A record of what happened: read-only for everyone, superusers too."""

    show_full_result_count = False
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RecordAdmin):
    """
    Patreon's recent webhook deliveries, as recorded (never the body): what
    came, when, for whom, and what we did with it. Read-only for everyone:
    the rows are the record of what Patreon sent.
    """

    list_display = [
        "received_at",
        "event",
        "outcome",
        "patreon_id",
        "member_id",
        "campaign_id",
    ]
    list_filter = ["event", "outcome"]
    search_fields = ["=patreon_id", "=member_id"]
    ordering = ["-received_at"]
    fields = list_display
    readonly_fields = list_display


@admin.register(SyncRun)
class SyncRunAdmin(RecordAdmin):
    """The full syncs of the campaign's members: when, how far, what changed."""

    list_display = [
        "started_at",
        "outcome",
        "pages",
        "members_seen",
        "updated",
        "marked_gone",
        "finished_at",
        "detail",
    ]
    list_filter = ["outcome"]
    ordering = ["-started_at"]
    fields = [*list_display, "heartbeat_at"]
    readonly_fields = fields


# procrastinate's job list is a worker's inside: failed re-reads show in the
# log (patreon_member_refreshed), syncs above, and the queue in
# `manage.py procrastinate`.
admin.site.unregister(ProcrastinateJob)
