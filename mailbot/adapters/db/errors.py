"""The database library's exceptions, under the names the rest of mailbot catches.

Re-exported, not translated: callers tell a lost server (``DBAPIError``) from a
mail's own bad data (``DataError``, ``IntegrityError``) exactly as before, and a
traceback still names SQLAlchemy's class.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import SQLAlchemyError as DatabaseError

__all__ = ["DBAPIError", "DataError", "DatabaseError", "IntegrityError"]
