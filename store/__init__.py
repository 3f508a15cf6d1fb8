"""Persistence shared by web (reads, intake) and worker (apply): PostgreSQL schema and Redis intake."""
