"""A test-only app whose migrations add kinds of objects the platform's own migrations do not have yet.

Installed only by tests/deploy/test_new_migrations.py: the deployment tools must
handle whatever a new migration creates, with no change to them.
"""
