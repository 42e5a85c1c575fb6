"""Durations as people read them in mail, in Polish or English ("1 h 30 min", "2 dni 4 h")."""

from __future__ import annotations

from datetime import timedelta


def _days_word(days: int, language: str) -> str:
    if language == "en":
        return "day" if days == 1 else "days"
    return "dzień" if days == 1 else "dni"


def human_duration(length: timedelta, language: str = "pl") -> str:
    """``timedelta(hours=26, minutes=5)`` -> "1 dzień 2 h 5 min"; rounded down to minutes."""
    minutes = max(int(length.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} {_days_word(days, language)}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)
