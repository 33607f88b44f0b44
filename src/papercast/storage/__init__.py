"""Storage adapters: SQLAlchemy Core tables and repositories, the same on SQLite and PostgreSQL."""
