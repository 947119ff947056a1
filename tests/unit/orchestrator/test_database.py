"""The campaigns database: a PostgreSQL URL or an SQLite path, bad ones refused by name."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from electroloop.errors import ConfigError
from electroloop.orchestrator.database import is_postgres, open_database
from electroloop.orchestrator.store import SCHEMAS, CampaignStore
from electroloop.settings import Settings


def test_a_server_nobody_runs_is_named_without_its_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://lab:hunter2@127.0.0.1:{port}/campaigns"
    with pytest.raises(ConfigError, match=r"^database_url: cannot reach PostgreSQL") as refused:
        CampaignStore(url)
    assert f"lab:***@127.0.0.1:{port}/campaigns" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_a_wrong_password_is_refused_by_name(postgres_url: str) -> None:
    wrong = postgres_url.replace(postgres_url.split(":")[2].split("@")[0], "not-the-password")
    with pytest.raises(ConfigError, match="password authentication failed"):
        open_database(wrong, SCHEMAS, busy_timeout=2.0)


def test_settings_accept_only_postgresql_urls(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).store == tmp_path.resolve() / "campaigns.sqlite"
    url = "postgresql://lab:pw@db.lab:5432/campaigns"
    assert Settings(home=tmp_path, database_url=url).store == url and is_postgres(url)
    for bad in ("mysql://lab:hunter2@db/c", "sqlite:///runs/campaigns.sqlite", "db.lab:5432"):
        with pytest.raises(ValidationError, match="postgresql://user:password@") as refused:
            Settings(home=tmp_path, database_url=bad)
        assert "database_url" in str(refused.value) and "hunter2" not in str(refused.value)


def test_a_store_says_where_it_lies(store_target: str | Path) -> None:
    with CampaignStore(store_target) as store:
        assert (
            "***" in store.location
            if is_postgres(store_target)
            else store.location == str(store_target)
        )
