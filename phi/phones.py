"""Telephone and fax numbers of the nine countries served, through Google's libphonenumber.

``phonenumbers`` (the Python port of libphonenumber) knows each country's numbering plan: which
lengths and leading digits are real numbers, for landlines and mobiles alike. It replaces the
hand-written shapes the guard had: a run of digits is a phone number when libphonenumber says
it is a valid number of one of the countries served (or, laid out as a phone, "(555) 123-4567",
a possible one), read the way it was written:

- with an international prefix ("+44 20 7946 0958", "0034 612 345 678"): any country;
- with a trunk 0 ("020 7946 0958", "0412 345 678", "087 123 4567"): the trunk-0 countries
  (UK, Ireland, Australia, New Zealand, South Africa);
- otherwise: the countries dialled without a trunk prefix (US and Canada, Spain, Mexico);
  unbroken digits only as a Spanish number ("612345678"), the way Spaniards write them.

What is never a phone, whatever libphonenumber says: a number with a decimal point or comma
("942.195372", "9,8"), thousands groups ("2.400.000 UI"), a fraction ("120/80"), or a number
followed by a unit ("125 000 copies/mL"). Those checks come first and are cheap; the parse
(tens of µs) runs only on a run of 8–15 digits that passed them, or 7–15 after a phone label.
"""

from __future__ import annotations

import re

import phonenumbers

INTERNATIONAL = None
TRUNK_ZERO = ("GB", "IE", "AU", "NZ", "ZA")
NO_TRUNK = ("US", "ES", "MX")  # US covers Canada: one numbering plan (NANP)

_DATE = re.compile(r"\d{4}([-.])\d{1,2}\1\d{1,2}|\d{1,2}([-.])\d{1,2}\2\d{2,4}")
_THOUSANDS = re.compile(r"\d{1,3}(?:[.,]\d{3})+")
_UNIT_AFTER = re.compile(r"\s*(?:mg|mcg|µg|ug|g\b|kg|ml|mL|l\b|L\b|mmol|meq|mEq|ui|UI|iu|IU|"
                         r"u\b|units?|unidades|copies|copias|cél|cells|/|%|kcal|pasos|steps|"
                         r"x\s?10|mm3|µl|ng|pg)")


def is_phone(number: str, after: str = "", *, labelled: bool = False, parse: bool = True) -> bool:
    """Whether ``number`` (a run of digits with the separators it was written with, possibly
    starting with "+" or "(") is a valid phone number of one of the nine countries.
    ``after`` is the text that follows it (a unit there means a quantity). ``parse=False``
    skips libphonenumber and answers from the layout alone: the guard's budget for a message
    that carries dozens of phone-shaped numbers (it is refused anyway; the parse costs tens of
    µs each, and no result is cached: a cache would keep patients' numbers in memory)."""
    digits = "".join(c for c in number if c.isdigit())
    if not (7 if labelled else 8) <= len(digits) <= 15:
        return False
    if not labelled:
        if "/" in number or "," in number:
            return False
        if number.count(".") == 1 or _THOUSANDS.fullmatch(number):
            return False
        if "." in number and (" " in number or "-" in number):
            return False  # "7.35 7.40 7.45": a list of decimals
        if _UNIT_AFTER.match(after) or _DATE.fullmatch(number):
            return False
    if not parse:
        return bool(_LAID_OUT.fullmatch(number))
    if number.startswith("+") or digits.startswith("00"):
        regions: tuple = (INTERNATIONAL,)
        if not number.startswith("+"):
            number = "+" + digits[2:]
    elif digits.startswith("0"):
        regions = TRUNK_ZERO
    elif digits == number:
        # Unbroken digits with no prefix: Spaniards write "612345678"; a bare ten-digit run
        # in English text is more often a lot, a code or an identifier of its own.
        regions = ("ES",)
    else:
        regions = NO_TRUNK
    laid_out = bool(_LAID_OUT.fullmatch(number))
    for region in regions:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return True
        # Written as a phone ("(555) 123-4567", "555-123-4567") and of a phone's length: a
        # number from an unassigned or fictional range is still someone's way to be reached.
        if laid_out and phonenumbers.is_possible_number(parsed):
            return True
    return False


# Groups of digits the way phone numbers are written: an area code in parentheses, or three
# or more groups joined by single hyphens, dots or spaces.
_LAID_OUT = re.compile(r"\+?\(\d{1,5}\)\s?\d{2,6}(?:[\s.-]\d{2,6})*|0\d{2,5}[\s-]\d{5,8}"
                       r"|\+\d{1,3}(?:[\s.-]\d{1,6}){2,6}"
                       r"|\d{2,6}([\s.-])\d{2,6}(?:\1\d{2,6})+")
