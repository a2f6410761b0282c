from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from allauth.account.signals import user_logged_in
        from django.contrib.auth import signals as auth_signals

        from accounts import receivers

        user_logged_in.connect(receivers.record_login)
        user_logged_in.connect(receivers.record_email_verification)
        auth_signals.user_logged_in.connect(receivers.start_session_life)
        auth_signals.user_logged_out.connect(receivers.record_logout)
