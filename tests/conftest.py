import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("owner", "owner@example.com", "correct-horse-9")


@pytest.fixture
def other(db):
    return get_user_model().objects.create_user("other", "other@example.com", "correct-horse-9")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("staff", "staff@example.com", "correct-horse-9", is_staff=True, is_superuser=True)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client
