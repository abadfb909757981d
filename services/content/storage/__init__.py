"""SQL storage adapter (SQLAlchemy Core, asyncio): SQLite by default, PostgreSQL in production."""
