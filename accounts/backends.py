from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend

from accounts.models import User


class AuthenticationBackend(AllauthBackend):
    """allauth's backend, loading the user's Patreon membership in the same query."""

    def get_user(self, user_id):
        try:
            user = User._default_manager.select_related("patreon").get(pk=user_id)
        except User.DoesNotExist:
            return None
        # A deactivated user's sessions stop working on their next request.
        return user if self.user_can_authenticate(user) else None
