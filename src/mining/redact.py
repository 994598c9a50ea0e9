"""PII redaction, applied before any text reaches the store, the logs, an alert or a CSV.

Text is NFKC-normalised first, so full-width digits, colons and at-signs (１３８…, ：, ＠) look
like their ASCII forms to every detector. Then, in this order:

- e-mail addresses (letters of any alphabet except CJK, see `_EMAIL`) become [EMAIL];
- IBANs validated by `stdnum.iban` (country length and mod-97 checksum) become [IBAN];
- Chinese resident id numbers (province, birth date and check digit, via `stdnum.cn.ric`)
  become [ID];
- payment cards: 13-19 digits split by any of space, dash, en/em dash or dot, with a card
  network's first digit (2-6) and a valid Luhn check (`stdnum.luhn`), become [CARD];
- phone numbers found by libphonenumber's `PhoneNumberMatcher` over several regions become
  [PHONE].

`PhoneNumberMatcher` needs `Leniency.POSSIBLE` to catch fictional and not-yet-allocated numbers
((555) 123-4567, 07700 900123), and at that leniency it also matches dates, prices, postcodes
and order numbers. `_accept_phone` therefore keeps a match only when it looks like a phone
number in context: an international prefix (+, 00), a phone word before it (Tel, ph, 电话, 手机,
…), a full national number (10-13 digits), or a shorter one libphonenumber calls valid that is
written like one (089 123456). It drops anything glued to letters (BA117), shaped like a date,
an IP or a version, after a currency sign, or labelled as an order, booking, flight, room or
tracking number. Spans found under different regions are merged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn
from stdnum.cn import ric as std_ric
from stdnum.exceptions import ValidationError

from mining.normalise import clean_text

# National formats of these regions are recognised everywhere; per source or site, more may be
# added (`phone_regions` in the sources config). International (+44 …) numbers need no region.
DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "CN", "DE", "FR")
KINDS = ("email", "iban", "id", "card", "phone")
TOKENS = {"email": "[EMAIL]", "iban": "[IBAN]", "id": "[ID]", "card": "[CARD]",
          "phone": "[PHONE]"}

# Zero-width and bidi characters could split a number so that no detector sees it.
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")

# Word characters without CJK: a Chinese sentence around an address is not part of it
# ("客服邮箱service@hotel.cn没人回"), while é, ü, ß, ø, Greek and Cyrillic letters are.
_W = r"[^\W\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
_L = r"[^\W\d_\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"  # letters only
_EMAIL = re.compile(
    rf"(?<!{_W})(?<![.%+'-])(?:{_W}|[.%+'-]){{1,64}}"
    rf"@(?:{_W}(?:(?:{_W}|-){{0,61}}{_W})?\.)+(?:{_L}{{2,63}}|xn--(?:{_W}|-){{1,59}})(?!{_W})"
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_RIC = re.compile(r"(?<![\dA-Za-z])\d{6} ?\d{8} ?\d{3}[\dXx](?![\dA-Za-z])")
# First two digits of a resident id: the province (GB/T 2260), plus Taiwan, Hong Kong, Macau.
_CN_PROVINCES = frozenset(str(code) for first, last in (
    (11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 83), (91, 91)
) for code in range(first, last + 1))
_CARD_SEPARATORS = " .\u2010-\u2015-"
_CARD = re.compile(rf"(?<![\d.,])[2-6](?:[{_CARD_SEPARATORS}]?\d){{12,18}}(?!\d)")

# Phones: words that announce a number, and labels that say a number is something else. Both
# must end right before the number, allowing filler such as "number", "is", ":" or "号码".
_PHONE_WORD = re.compile(
    r"(?:\b(?:tel|tél|tele?phone|téléphone|telefon|telefonnummer|phone|ph|mob|mobile|mobil|"
    r"handy|cell|cellphone|call|ring|sms|whatsapp|fax|portable|fixe|appelez|anrufen|"
    r"rufnummer|contact)\b|电话|手机|座机|致电|联系)"
    r"(?:[\s:.#/()=-]|\b(?:number|no|nr|num|nummer|numéro|me|on|at|us|is|ist|unter|au|est|"
    r"le)\b|n°|号码|号|是|为)*$",
    re.IGNORECASE,
)
_NOT_PHONE_LABEL = re.compile(
    r"(?:\b(?:order|booking|ref|reference|confirmation|conf|flight|flights|room|rm|invoice|"
    r"inv|tracking|ticket|case|account|acct|member|membership|loyalty|pnr|receipt|"
    r"transaction|txn|voucher|code|zip|postcode|postal|bestellung|bestellnummer|buchung|"
    r"buchungsnummer|zimmer|rechnung|flug|commande|réservation|reservation|chambre|facture|"
    r"vol|dossier|isbn|issn|ean|upc|sku|serial|imei|version|ver|build|ip|auftragsnummer|"
    r"kundennummer|vorgangsnummer|rechnungsnummer|reservierungsnummer|mitgliedsnummer|"
    r"referenz|id)\b|订单|单号|房间|房号|航班|预订|发票|编号)"
    r"(?:[\s:.#/-]|\b(?:number|no|nr|num|nummer|numéro|id|ref|code|is|was|ist|est)\b|n°|号|是)*$",
    re.IGNORECASE,
)
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./](?:\d{4}|\d{2}))$")
# A date with a four-digit year anywhere in a match (2015-02-24 15:00), or only years.
_DATE_INSIDE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d{2}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|[12]\d|3[01])[-./](?:19|20)\d{2})(?!\d)"
    r"|^(?:19|20)\d{2}(?:[ ,/\u2013-]+(?:19|20)\d{2})+$"
)
# IPv4 addresses and version numbers (10.0.19045.2965): dotted groups no phone plan writes.
_DOTTED_NOT_PHONE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$|\d\.\d\.|\.\d\.\d")
_CURRENCY_BEFORE = re.compile(r"[$€£¥₹₩]\s?[\d,.]*$|(?:USD|EUR|GBP|CNY|RMB)\s?$")
_PHONE_CHARS = re.compile(r"[+(\d][\d\s()./\u2010-\u2015-]{5,}\d")
_LONG_RUN = 200


# The fewest digits each detector's pattern can match: below them it is not run at all.
_MIN_DIGITS = {"iban": 2, "id": 17, "card": 13, "phone": 7}


_DECIMAL = re.compile(r"\d")


def count_digits(text: str) -> int:
    """How many decimal digits (`\\d`) `text` holds: the only digits the detectors' patterns
    match (superscripts and circled digits never are), counted in C."""
    if text.isascii():
        return sum(map(text.count, "0123456789"))
    return len(_DECIMAL.findall(text))


def normalise_for_redaction(text: str) -> str:
    """NFKC without invisible characters: what the detectors see, so they see what a reader sees.

    It is idempotent, so text already passed through `clean_text` is unchanged.
    """
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def luhn_valid(digits: str) -> bool:
    """True for a digit string passing the Luhn check (kept for existing callers)."""
    return digits.isdigit() and std_luhn.is_valid(digits)


def _iban(match: re.Match[str]) -> tuple[int, int] | None:
    """The longest valid IBAN starting at the match; the regex may run into the next word."""
    text = match.group(0)
    for end in range(len(text), 14, -1):
        if end < len(text) and text[end] not in " -":
            continue
        candidate = text[:end].rstrip(" -")
        if std_iban.is_valid(candidate):
            return match.start(), match.start() + len(candidate)
    return None


def _ric(match: re.Match[str]) -> tuple[int, int] | None:
    """A Chinese resident id: province, birth date and ISO 7064 check digit must be right.

    `stdnum.cn.ric.is_valid` also looks the county up in a historical table, which misses real
    districts (Pudong's 310115, for one), so only its check digit and birth date are used.
    """
    number = match.group(0).replace(" ", "").upper()
    if number[:2] not in _CN_PROVINCES or std_ric.calc_check_digit(number) != number[-1]:
        return None
    try:
        born = std_ric.get_birth_date(number)
    except ValidationError:
        return None
    return match.span() if 1900 <= born.year <= 2100 else None


def _card(match: re.Match[str]) -> tuple[int, int] | None:
    """The longest run of whole digit groups from the match start that is a Luhn-valid card.

    The groups must share one separator: 4111 1111-1111 1111 is how nobody writes a card.
    """
    text = match.group(0)
    groups = [m.span() for m in re.finditer(r"\d+", text)]
    for last in range(len(groups), 0, -1):
        end = groups[last - 1][1]
        separators = {text[a:b] for (_, a), (b, _) in zip(groups[:last - 1], groups[1:last],
                                                           strict=True)}
        digits = re.sub(r"\D", "", text[:end])
        if (len(separators) <= 1 and 13 <= len(digits) <= 19
                and std_luhn.is_valid(digits)):
            return match.start(), match.start() + end
    return None


def _accept_phone(text: str, start: int, end: int, number: phonenumbers.PhoneNumber,
                  site_region: bool) -> bool:
    """Whether a `Leniency.POSSIBLE` match is a phone number rather than another number.

    `site_region` is true when the match came from a region configured for the source or site,
    whose short national numbers (8-digit Singapore or Hong Kong numbers) are then trusted.
    """
    raw = text[start:end]
    digits = sum(ch.isdigit() for ch in raw)
    before = text[max(0, start - 24):start]
    after = text[end:end + 1]
    announced = bool(_PHONE_WORD.search(before))
    if after.isalnum() and after.isascii():
        return False
    if before[-1:].isascii() and before[-1:].isalnum() and not announced:
        return False  # BA117, A4-200, X12345678
    if _DATE.match(raw) or _DATE_INSIDE.search(raw) or _DOTTED_NOT_PHONE.search(raw):
        return False
    if _CURRENCY_BEFORE.search(before) or _NOT_PHONE_LABEL.search(before):
        return False
    if not phonenumbers.is_possible_number(number):
        return False
    if raw.startswith(("+", "00")):
        return digits >= 8
    if announced:
        return 7 <= digits <= 13
    if 10 <= digits <= 13:
        return True
    # 8-9 digits unannounced: bare 8-digit strings are mostly order numbers and dates, so only
    # a number libphonenumber calls valid, and grouped with a trunk 0 (089 123456) unless its
    # region was configured for the site.
    if digits < 8 or not phonenumbers.is_valid_number(number):
        return False
    return site_region or (raw.startswith(("0", "(0")) and not raw.isdigit())


def _phone_spans(text: str, regions: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of phone numbers.

    The matcher runs only on runs of digits and phone punctuation. A run longer than
    `_LONG_RUN` characters is not prose (a pasted table, or an attack on the parser's time), so
    it is redacted whole rather than parsed: safe, and linear in the text's length.
    """
    spans: set[tuple[int, int]] = set()
    for window in _PHONE_CHARS.finditer(text):
        if count_digits(window.group(0)) < _MIN_DIGITS["phone"]:
            continue
        if len(window.group(0)) > _LONG_RUN:
            spans.add(window.span())
            continue
        for region in regions:
            for m in PhoneNumberMatcher(window.group(0), region, leniency=Leniency.POSSIBLE,
                                        max_tries=100):
                start, end = window.start() + m.start, window.start() + m.end
                if _accept_phone(text, start, end, m.number, region not in DEFAULT_REGIONS):
                    spans.add((start, end))
    return _merge(spans)


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _replace(text: str, spans: list[tuple[int, int]], token: str) -> str:
    """`text` with each (sorted, disjoint) span replaced by `token`."""
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], token]
        last = end
    return "".join(parts) + text[last:]


def _regex_spans(pattern: re.Pattern[str], text: str,
                 check: Callable[[re.Match[str]], tuple[int, int] | None]
                 ) -> list[tuple[int, int]]:
    return [span for match in pattern.finditer(text) if (span := check(match)) is not None]


def redact_with_counts(text: str, regions: Sequence[str] | None = None, *,
                       clean: bool = False) -> tuple[str, dict[str, int]]:
    """The redacted text and how many of each kind were replaced.

    `regions` adds ISO region codes whose national phone formats are recognised (the
    `DEFAULT_REGIONS` always are). `clean=True` runs the full `clean_text` first (HTML, entities,
    whitespace), for raw input that has not been cleaned, such as `mining predict`'s CSV.
    """
    text = normalise_for_redaction(clean_text(text) if clean else text)
    counts = dict.fromkeys(KINDS, 0)
    # Each detector needs an '@' or a least number of digits (`_MIN_DIGITS`); most reviews
    # have neither, and checking costs far less than scanning with the patterns.
    if "@" in text:
        text, counts["email"] = _EMAIL.subn(TOKENS["email"], text)
    digits = count_digits(text)
    for kind, pattern, check in (("iban", _IBAN, _iban), ("id", _RIC, _ric),
                                 ("card", _CARD, _card)):
        if digits < _MIN_DIGITS[kind]:
            continue
        spans = _regex_spans(pattern, text, check)
        if spans:
            counts[kind] = len(spans)
            text = _replace(text, spans, TOKENS[kind])
            digits = count_digits(text)
    if digits >= _MIN_DIGITS["phone"]:
        all_regions = list(dict.fromkeys([*(regions or ()), *DEFAULT_REGIONS]))
        spans = _phone_spans(text, all_regions)
        counts["phone"] = len(spans)
        text = _replace(text, spans, TOKENS["phone"])
    return text, counts


def redact(text: str, regions: Sequence[str] | None = None, *, clean: bool = False) -> str:
    """`text` with e-mails, IBANs, Chinese ids, cards and phone numbers replaced by tokens."""
    return redact_with_counts(text, regions, clean=clean)[0]


def pseudonymise(value: str, key: str) -> str:
    """A keyed HMAC-SHA256 pseudonym: the same id always maps to the same value under one key,
    so feedback and complaints still link, but the id cannot be read or guessed without the key.

    The id is NFKC-normalised and stripped; ids that are e-mail addresses are also case-folded,
    since Jane@Example.com and jane@example.com are the same customer.
    """
    canonical = unicodedata.normalize("NFKC", value).strip()
    if "@" in canonical:
        canonical = canonical.casefold()
    digest = hmac.new(key.encode("utf-8"), canonical.encode("utf-8"), hashlib.sha256)
    return "cid_" + digest.hexdigest()[:32]
