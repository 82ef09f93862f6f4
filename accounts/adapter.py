"""allauth's adapter, for the client address its rate limits count."""

from allauth.account.adapter import DefaultAccountAdapter

from lib.ratelimit import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request):
        # The same address our own limits count: the rightmost hop that is not
        # one of TRUSTED_PROXIES (allauth alone would trust only a proxy count,
        # and daphne's --proxy-headers the client-written leftmost hop).
        return client_ip(request)
