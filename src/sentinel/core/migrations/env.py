"""Alembic environment: runs migrations on the engine handed over by ``sentinel.core.db``."""

from alembic import context

from sentinel.core.db import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
