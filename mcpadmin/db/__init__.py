"""Database plumbing shared by every app."""

#: The PostgreSQL schema that holds every platform table, enum type and function.
PLATFORM_SCHEMA = "mcp"
