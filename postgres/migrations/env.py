"""Alembic environment: migrations run online against the configured URL."""

from alembic import context
from sqlalchemy import create_engine, pool

from postgres.tables import Base

url = context.config.get_main_option("sqlalchemy.url")
assert url, "postgres/engine.py's alembic_config sets sqlalchemy.url"
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
