"""Alembic migrations of mailbot's database, shipped inside the package.

``env.py`` is configured in code (no alembic.ini): ``mailbot.adapters.db.schema``
runs it on an open connection; ``python -m mailbot.adapters.db.migrations.new "message"``
writes the next revision for a developer. Revisions are numbered 0001, 0002...
"""
