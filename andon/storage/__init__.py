"""Storage: SQLAlchemy tables, Alembic migrations and the store the services use."""
