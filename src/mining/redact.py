"""PII redaction, applied before any text reaches the store, the logs or an alert.

E-mail addresses become [EMAIL], payment card numbers (13-19 digits passing the Luhn check)
[CARD], phone numbers [PHONE]. Dates, times, prices, flight and order numbers stay.
"""

from __future__ import annotations

import re

EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
# 13-19 digits, optionally grouped by single spaces or dashes.
CARD = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")
PHONE = re.compile(
    r"(?<![A-Za-z0-9_/.:$£€])"
    r"(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # international
    r"|(?:1[ .-])?\(\d{3}\)[ .-]?\d{3}[ .-]?\d{4}"                         # (555) 123-4567
    r"|(?:1[ .-])?\d{3}[.-]\d{3}[.-]\d{4}"                                   # 555-123-4567
    r"|(?:1[ .-])?\d{3} \d{3} \d{4}"                                         # 555 123 4567
    r"|1[3-9]\d{9}"                                                          # CN mobile
    r")(?![A-Za-z0-9_/:])"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def redact_with_counts(text: str) -> tuple[str, dict[str, int]]:
    """The redacted text and how many of each kind were replaced."""
    counts = {"email": 0, "card": 0, "phone": 0}
    text, counts["email"] = EMAIL.subn("[EMAIL]", text)
    before = text.count("[CARD]")
    text = CARD.sub(_card, text)
    counts["card"] = text.count("[CARD]") - before
    text, counts["phone"] = PHONE.subn("[PHONE]", text)
    return text, counts


def redact(text: str) -> str:
    return redact_with_counts(text)[0]
