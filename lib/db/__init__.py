"""Choose the database adapter from settings: Supabase when its pair is set, else DATABASE_URL."""

from __future__ import annotations

from lib.db.port import Database, DatabaseError, DatabaseUnavailable, Row
from lib.settings import Settings, SettingsError

__all__ = ["Database", "DatabaseError", "DatabaseUnavailable", "Row", "database_for"]

_cache: dict[tuple[str, ...], Database] = {}


def database_for(settings: Settings) -> Database:
    """The adapter for these settings; one per configuration, so its clients are reused."""
    problem = settings.database_problem()
    if problem:
        raise SettingsError(problem)
    if settings.supabase_url and settings.supabase_service_role_key:
        url, key = settings.supabase_url, settings.supabase_service_role_key.get_secret_value()
        if ("supabase", url, key) not in _cache:
            from lib.db.supabase import SupabaseDatabase

            _cache["supabase", url, key] = SupabaseDatabase(url, key)
        return _cache["supabase", url, key]
    assert settings.database_url is not None
    dsn = settings.database_url.get_secret_value()
    if ("postgres", dsn) not in _cache:
        from lib.db.postgres import PostgresDatabase

        _cache["postgres", dsn] = PostgresDatabase(dsn)
    return _cache["postgres", dsn]
