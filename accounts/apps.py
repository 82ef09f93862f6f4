from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out

        # In ready(): the app registry is loaded only now.
        from interviews.sockets import close_on_logout

        # Django's own hook for a logout, whichever view performs it.
        user_logged_out.connect(close_on_logout, dispatch_uid="accounts.close_on_logout")
