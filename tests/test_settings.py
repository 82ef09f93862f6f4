import pytest

from interviewer.settings import database_from_url, envbool


def test_it_parses_a_postgres_url(monkeypatch):
    monkeypatch.setenv("DB_POOL", "true")
    db = database_from_url("postgres://app:p%40ss@db.example:5433/interviews?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == ("app", "p@ss", "db.example", "5433", "interviews")
    assert db["OPTIONS"]["sslmode"] == "require"
    assert db["OPTIONS"]["pool"]["max_size"] == 20  # pooled, so CONN_MAX_AGE stays 0
    assert db["CONN_MAX_AGE"] == 0


def test_it_refuses_other_database_schemes():
    with pytest.raises(ValueError):
        database_from_url("mysql://x@y/z")


def test_it_reads_booleans_strictly(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    with pytest.raises(ValueError):
        envbool("FLAG", "false")
    monkeypatch.setenv("FLAG", "true")
    assert envbool("FLAG", "false") is True


def test_it_reads_secrets_from_files(monkeypatch, tmp_path):
    from interviewer.settings import envget

    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SOME_KEY_FILE", str(secret))
    assert envget("SOME_KEY") == "s3cret"


def test_it_reads_trusted_proxies_as_a_count_or_networks():
    from interviewer.settings import trusted_proxies

    assert trusted_proxies("") == 0
    assert trusted_proxies("2") == 2
    assert trusted_proxies("10.0.0.0/8, 127.0.0.1,::1") == ["10.0.0.0/8", "127.0.0.1", "::1"]
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        trusted_proxies("nginx.internal")
