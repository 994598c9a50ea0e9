"""PII redaction on real-looking variants, and what must stay untouched.

The large corpus is in `test_redaction_corpus.py`; these cover the findings of issue 14 one by
one, the counts, the regions parameter and pseudonyms.
"""

from __future__ import annotations

import time

import pytest

from mining.redact import luhn_valid, pseudonymise, redact, redact_with_counts


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
    assert counts == {"email": 1, "iban": 0, "id": 0, "card": 1, "phone": 1}
    assert text == "[EMAIL], [PHONE], [CARD]"
    text, counts = redact_with_counts("DE89370400440532013000 / 11010519491231002X")
    assert text == "[IBAN] / [ID]" and counts["iban"] == counts["id"] == 1
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_long_inputs_run_fast() -> None:
    nasty = "1 " * 50_000 + "a@" * 20_000 + "+1 " * 20_000
    started = time.perf_counter()
    redact(nasty)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(("text", "expected"), [
    ("Tel:+44 20 7946 0958", "Tel:[PHONE]"),
    ("电话：13800138000", "电话:[PHONE]"),  # NFKC folds the full-width colon first
    ("IBAN DE89370400440532013000", "IBAN [IBAN]"),
    ("020 7946 0958", "[PHONE]"), ("07700 900123", "[PHONE]"), ("138 0013 8000", "[PHONE]"),
    ("01 23 45 67 89", "[PHONE]"), ("5551234567", "[PHONE]"),
    ("card 4111.1111.1111.1111", "card [CARD]"),
    ("card 4111\u20131111\u20131111\u20131111", "card [CARD]"),
    ("jürgen.groß@beispiel.de", "[EMAIL]"), ("josé@correo.es", "[EMAIL]"),
    ("flight BA117, order 48213377", "flight BA117, order 48213377"),
])
def test_issue_14_findings(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_normalisation_comes_first() -> None:
    full_width = "\uff11\uff13\uff18\uff10\uff10\uff11\uff13\uff18\uff10\uff10\uff10"
    assert redact(full_width) == "[PHONE]"
    assert redact("5551\u200b234567") == "[PHONE]"  # a zero-width space does not hide it
    assert redact("<b>mail</b> jane&#64;example.com", clean=True) == "mail [EMAIL]"


def test_regions_add_national_formats() -> None:
    text = "reach us on 6123 4567"  # a Singapore number, 8 digits without a trunk 0
    assert redact(text) == text
    assert redact(text, ["SG"]) == "reach us on [PHONE]"
    assert redact("order 61234567", ["SG"]) == "order 61234567"


def test_pseudonyms_are_keyed_and_stable() -> None:
    a = pseudonymise("Jane.Doe@Example.com", "k1")
    assert a == pseudonymise(" jane.doe@example.com ", "k1")  # same customer, same pseudonym
    assert a != pseudonymise("jane.doe@example.com", "k2")  # another key, another pseudonym
    assert a != pseudonymise("john@example.com", "k1")
    assert pseudonymise("C42", "k1") != pseudonymise("c42", "k1")  # plain ids keep their case
    assert a.startswith("cid_") and "jane" not in a and len(a) == 36


def test_digit_count_sees_the_digits_the_patterns_match() -> None:
    from mining.redact import count_digits

    assert count_digits("room 12, floor 3") == 3
    assert count_digits("电话١٢٣ and ४५") == 5  # Arabic-Indic and Devanagari digits are \d
    assert count_digits("x² ①") == 0  # superscripts and circled digits never reach a pattern
    assert count_digits("") == 0


@pytest.mark.parametrize(("text", "token"), [
    ("a@b.io", "[EMAIL]"),  # the shortest address: the '@' check lets it through
    ("card 4222222222222 declined", "[CARD]"),  # 13 digits, the fewest a card has
    ("身份证110101199003074514丢了", "[ID]"),  # 17 digits and a check digit
    ("QA58DOHB00001234567890ABCDEFG ok", "[IBAN]"),
    ("call 555-1234 or 555-9876 tonight", "[PHONE]"),  # 7 digits each, announced
])
def test_detectors_still_run_at_their_fewest_digits(text: str, token: str) -> None:
    assert token in redact(text)
