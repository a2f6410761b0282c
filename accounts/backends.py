from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend

from accounts.models import User
from sessions import context


class AuthenticationBackend(AllauthBackend):
    """
    allauth's backend, taking the user the session store loaded together with
    the session row (one query for both), or loading user and Patreon
    membership in one query otherwise.

    It stays in accounts although the sessions app feeds it: its dotted path
    is written into every logged-in session (``_auth_user_backend``), and
    Django logs out a session whose backend is no longer configured.
    """

    def get_user(self, user_id):
        user = context.current().user
        if user is None or str(user.pk) != str(user_id):
            try:
                user = User._default_manager.select_related("patreon").get(pk=user_id)
            except User.DoesNotExist:
                return None
        # A deactivated user's sessions stop working on their next request.
        return user if self.user_can_authenticate(user) else None
