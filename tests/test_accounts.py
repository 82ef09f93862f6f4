import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from accounts.models import Profile

User = get_user_model()
PASSWORD = "a-Long-passphrase-42"


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()  # allauth counts attempts in the cache
    yield
    cache.clear()


def signup(client, email="new@example.com", password=PASSWORD):
    return client.post(reverse("account_signup"), {"email": email, "password1": password, "password2": password})


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


def test_it_renders_the_entrance_pages_in_our_layout(client, db):
    for name in ["account_login", "account_signup", "account_reset_password"]:
        response = client.get(reverse(name))
        assert response.status_code == 200
        html = response.content.decode()
        assert 'class="card stack"' in html
        assert 'class="topbar"' in html  # base.html's header
        assert "csrfmiddlewaretoken" in html


def confirmation_link(address):
    (message,) = [m for m in mail.outbox if m.to == [address]]
    return re.search(r"http://testserver(/accounts/confirm-email/\S+/)", message.body).group(1)


def signup_and_confirm(client, email="new@example.com"):
    signup(client, email)
    return client.post(confirmation_link(email))


def test_it_signs_up_a_user_who_confirms_the_address_and_can_then_log_in(client, db):
    response = signup(client)

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None  # not before the address is confirmed
    user = User.objects.get(email="new@example.com")
    link = confirmation_link("new@example.com")
    assert b"Please confirm that" in client.get(link).content

    response = client.post(link)
    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    assert logged_in_user_id(client) == str(user.pk)

    client.post(reverse("account_logout"))
    assert logged_in_user_id(client) is None

    response = client.post(reverse("account_login"), {"login": "new@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    assert logged_in_user_id(client) == str(user.pk)


def test_it_gives_a_new_user_a_profile_on_first_visit(client, db):
    signup_and_confirm(client)
    user = User.objects.get(email="new@example.com")

    response = client.get(reverse("profile"))

    assert response.status_code == 200
    assert Profile.objects.get(user=user).preferred_style == "formal"


def test_it_refuses_a_weak_or_mismatched_signup_password(client, db):
    response = client.post(
        reverse("account_signup"), {"email": "new@example.com", "password1": "12345678", "password2": "12345678"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert 'class="errorlist' in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()


def test_it_refuses_a_wrong_password_without_revealing_whether_the_account_exists(client, owner):
    url = reverse("account_login")

    known = client.post(url, {"login": "owner@example.com", "password": "wrong-password-1"})
    unknown = client.post(url, {"login": "nobody@example.com", "password": "wrong-password-1"})

    assert known.status_code == unknown.status_code == 200
    assert logged_in_user_id(client) is None
    known_errors = known.context["form"].non_field_errors()
    assert known_errors
    assert known_errors == unknown.context["form"].non_field_errors()
    assert known.context["form"].errors.keys() == unknown.context["form"].errors.keys()


def test_it_logs_in_the_fixture_owner_with_the_right_password(client, owner):
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    response = client.post(reverse("account_login"), {"login": "owner@example.com", "password": "correct-horse-9"})
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(owner.pk)


def test_it_sends_an_unconfirmed_account_a_link_instead_of_logging_it_in(client, owner):
    response = client.post(reverse("account_login"), {"login": "owner@example.com", "password": "correct-horse-9"})

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None
    client.post(confirmation_link("owner@example.com"))
    assert logged_in_user_id(client) == str(owner.pk)


def test_it_asks_before_logging_out_on_get(owner_client):
    response = owner_client.get(reverse("account_logout"))

    assert response.status_code == 200
    assert b"Are you sure you want to log out?" in response.content
    assert "_auth_user_id" in owner_client.session


def reset_links(messages):
    return [re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", m.body) for m in messages]


def test_it_answers_a_password_reset_the_same_for_known_and_unknown_emails(client, owner):
    url = reverse("account_reset_password")

    known = client.post(url, {"email": "owner@example.com"})
    unknown = client.post(url, {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url == reverse("account_reset_password_done")
    done = client.get(known.url)
    assert b"If an account exists for that address" in done.content

    # Only the real account receives a reset link. (allauth may send the
    # unknown address a "no account here" notice, which carries no link.)
    with_link = [m for m, link in zip(mail.outbox, reset_links(mail.outbox)) if link]
    assert [m.to for m in with_link] == [["owner@example.com"]]
    assert all(not link for m, link in zip(mail.outbox, reset_links(mail.outbox)) if m.to == ["nobody@example.com"])


def test_it_resets_a_password_through_the_emailed_link(client, owner):
    client.post(reverse("account_reset_password"), {"email": "owner@example.com"})
    (link,) = [found.group(1) for found in reset_links(mail.outbox) if found]

    response = client.get(link, follow=True)
    assert response.status_code == 200
    assert b"Choose a new password" in response.content
    set_password_url = response.redirect_chain[-1][0] if response.redirect_chain else link
    response = client.post(set_password_url, {"password1": PASSWORD, "password2": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_from_key_done")
    assert b"Your password is now changed" in client.get(response.url).content
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_it_shows_a_clear_page_for_a_bad_reset_link(client, db):
    response = client.get("/accounts/password/reset/key/1-bad-token/", follow=True)
    assert response.status_code == 200
    assert b"This link no longer works" in response.content


def test_it_renders_allauths_other_pages_in_our_layout(owner_client):
    for name in ["account_email", "account_change_password"]:
        response = owner_client.get(reverse(name))
        assert response.status_code == 200
        assert 'class="topbar"' in response.content.decode()


def test_it_says_where_the_confirmation_email_is_when_the_console_prints_it(client, db, settings):
    url = reverse("account_email_verification_sent")
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert b"prints emails on its console" in client.get(url).content

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert b"prints emails on its console" not in client.get(url).content
