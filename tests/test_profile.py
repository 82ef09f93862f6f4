import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import Profile


def profile_post(client, **overrides):
    data = {"default_resume": "Ten years of Python.", "preferred_style": "technical", "preferred_difficulty": "hard"}
    data.update(overrides)
    return client.post(reverse("profile"), data)


def test_it_shows_the_profile_form_with_current_values(owner_client, owner):
    Profile.objects.create(user=owner, default_resume="MY-RESUME-TEXT", preferred_style="casual")

    response = owner_client.get(reverse("profile"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "MY-RESUME-TEXT" in html
    assert '<option value="casual" selected>' in html
    assert reverse("export_data") in html
    assert reverse("delete_account") in html


def test_it_creates_the_profile_lazily(owner_client, owner):
    assert not Profile.objects.filter(user=owner).exists()
    owner_client.get(reverse("profile"))
    assert Profile.objects.filter(user=owner).exists()


def test_it_saves_the_profile_and_redirects_with_a_message(owner_client, owner):
    response = profile_post(owner_client)

    assert response.status_code == 302
    assert response.url == reverse("profile")
    profile = Profile.objects.get(user=owner)
    assert profile.default_resume == "Ten years of Python."
    assert profile.preferred_style == "technical"
    assert profile.preferred_difficulty == "hard"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Your profile is saved. New interviews will start from these defaults."
    ]


def test_it_accepts_a_resume_of_exactly_the_limit(owner_client, owner):
    response = profile_post(owner_client, default_resume="x" * 20_000)
    assert response.status_code == 302
    assert len(Profile.objects.get(user=owner).default_resume) == 20_000


def test_it_refuses_an_overlong_resume_with_a_clear_message(owner_client, owner):
    Profile.objects.create(user=owner, default_resume="KEEP-ME")

    response = profile_post(owner_client, default_resume="x" * 20_001)

    assert response.status_code == 200
    assert response.context["form"].errors["default_resume"] == [
        "Your résumé is 20,001 characters long; the limit is 20,000. Please shorten it."
    ]
    assert "the limit is 20,000" in response.content.decode()
    assert Profile.objects.get(user=owner).default_resume == "KEEP-ME"


@pytest.mark.parametrize("field, value", [("preferred_style", "rude"), ("preferred_difficulty", "impossible")])
def test_it_refuses_an_unknown_style_or_difficulty(owner_client, owner, field, value):
    response = profile_post(owner_client, **{field: value})

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert Profile.objects.get(user=owner).preferred_style == "formal"


def test_it_only_edits_the_signed_in_users_profile(owner_client, owner, other):
    other_profile = Profile.objects.create(user=other, default_resume="OTHER-RESUME")

    profile_post(owner_client, user=other.pk, default_resume="changed")

    other_profile.refresh_from_db()
    assert other_profile.default_resume == "OTHER-RESUME"
    assert Profile.objects.get(user=owner).default_resume == "changed"


def test_it_refuses_other_methods(owner_client):
    assert owner_client.put(reverse("profile")).status_code == 405


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_redirects_anonymous_users_to_login(client, db, method):
    response = getattr(client, method)(reverse("profile"))

    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next={reverse('profile')}"
    assert not Profile.objects.exists()
