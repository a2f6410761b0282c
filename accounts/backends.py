from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend

from accounts.models import User
from accounts.session_store import loaded_user


class AuthenticationBackend(AllauthBackend):
    """
    allauth's backend, taking the user the session store loaded together with
    the session row (one query for both), or loading user and Patreon
    membership in one query otherwise.
    """

    def get_user(self, user_id):
        user = loaded_user.get()
        if user is None or str(user.pk) != str(user_id):
            try:
                user = User._default_manager.select_related("patreon").get(pk=user_id)
            except User.DoesNotExist:
                return None
        # A deactivated user's sessions stop working on their next request.
        return user if self.user_can_authenticate(user) else None
