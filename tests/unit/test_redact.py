"""PII redaction on real-looking variants, and what must stay untouched."""

from __future__ import annotations

import time

import pytest

from mining.redact import luhn_valid, redact, redact_with_counts


@pytest.mark.parametrize(("text", "expected"), [
    ("mail me at jane.doe@example.com", "mail me at [EMAIL]"),
    ("JOHN.SMITH+travel@Mail.Example.co.uk please", "[EMAIL] please"),
    ("contact: a_b-c@sub.domain.org.", "contact: [EMAIL]."),
    ("客服邮箱service@hotel.cn没人回", "客服邮箱[EMAIL]没人回"),
])
def test_emails(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "call (555) 123-4567 now", "555-123-4567", "555.123.4567", "+1 555 123 4567",
    "1-800-433-7300", "+44 20 7946 0958", "+86 138 0013 8000", "电话13800138000找我",
    "my number is (631)891-5722",
])
def test_phone_numbers(text: str) -> None:
    out = redact(text)
    assert "[PHONE]" in out
    assert not any(ch.isdigit() for ch in out.replace("[PHONE]", ""))


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1111 was charged twice", "4111-1111-1111-1111",
    "5500005555555559", "amex 3782 822463 10005",
])
def test_card_numbers(text: str) -> None:
    assert "[CARD]" in redact(text)


@pytest.mark.parametrize("text", [
    "flight 3411 on 2/24/2015 at 11:35", "2015-02-24T10:00:00", "UA 1234 delayed",
    "paid $1,234.56 for nothing", "order 12345678 never arrived", "@united thanks",
    "http://t.co/abc123XYZ", "in 2015 we flew 3 times", "gate B22 at 10:05am",
    "tracking 1234567890123456 (not a card: fails Luhn)", "room 1203, floor 12",
])
def test_ordinary_numbers_stay(text: str) -> None:
    assert redact(text) == text


def test_counts_and_luhn() -> None:
    text, counts = redact_with_counts("a@b.co, 555-123-4567, 4111 1111 1111 1111")
    assert counts == {"email": 1, "card": 1, "phone": 1}
    assert text == "[EMAIL], [PHONE], [CARD]"
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_long_inputs_run_fast() -> None:
    nasty = "1 " * 50_000 + "a@" * 20_000 + "+1 " * 20_000
    started = time.perf_counter()
    redact(nasty)
    assert time.perf_counter() - started < 2.0
