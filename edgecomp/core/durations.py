"""Durations as users write them: "30m", "1h30m", "90s", "1.5h" or a number of seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
FORMS = "e.g. 30m, 1h30m, 90s or 600 (seconds)"


def parse_duration(value) -> float:
    """Seconds from a number or a text such as "30m", "1h30m", "90s", "1.5h", "600".

    Raises:
        ValueError: anything else ("... is not a duration; write e.g. 30m, ...").

    Examples:
        >>> parse_duration("1h30m")
        5400.0
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    match = _DURATION.match(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration; write {FORMS}.")
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds
