"""Check digits of the national health and identity numbers of the countries Curbside serves.

Used by the PHI guard (phi/guard.py) to tell an identifier from a number of the same shape:
a ten-digit run is an NHS number only if its mod-11 check holds, which a random ten-digit lab
or lot number does one time in eleven. Each function takes the identifier without separators
(letters upper or lower case) and answers whether its check digit or letter is right; none
says whether the number was ever issued.
"""

from __future__ import annotations

import re


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check used by the Canadian SIN, the South African ID and the IHI."""
    total = 0
    for i, c in enumerate(reversed(number)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def nhs_number_ok(digits: str) -> bool:
    """NHS number (England, Wales, Isle of Man): mod 11 over weights 10..2."""
    if len(digits) != 10 or digits[0] == "0":  # a leading 0 is a phone's trunk prefix
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def sin_ok(digits: str) -> bool:
    """Canadian Social Insurance Number: nine digits, Luhn (8xx are business numbers)."""
    return len(digits) == 9 and digits[0] != "8" and luhn_ok(digits)


def medicare_au_ok(digits: str) -> bool:
    """Australian Medicare card number: weights 1,3,7,9,1,3,7,9 over the first eight digits,
    mod 10 is the ninth; a tenth (issue number) and an eleventh (IRN) may follow."""
    if len(digits) not in (10, 11) or digits[0] not in "23456":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], (1, 3, 7, 9, 1, 3, 7, 9), strict=True))
    return total % 10 == int(digits[8])


_NHI_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O; A = 1


def nhi_ok(value: str) -> bool:
    """New Zealand National Health Index: AAANNNN (mod 11 check digit) or AAANNAA (mod 23
    check letter), HISO 10046:2023."""
    value = value.upper()
    if len(value) != 7 or any(c not in _NHI_ALPHABET for c in value[:3]):
        return False

    def val(c: str) -> int:
        return _NHI_ALPHABET.index(c) + 1 if c.isalpha() else int(c)

    try:
        total = sum(val(c) * w for c, w in zip(value[:6], range(7, 1, -1), strict=True))
    except ValueError:
        return False
    if value[6].isdigit():
        check = 11 - total % 11
        return check != 11 and check % 10 == int(value[6])
    check = 23 - total % 23
    return _NHI_ALPHABET[check - 1] == value[6]


def sa_id_ok(digits: str) -> bool:
    """South African ID number: YYMMDD SSSS C A Z, Luhn over all thirteen digits."""
    return len(digits) == 13 and digits[10] in "01" and luhn_ok(digits)


def ppsn_ok(value: str) -> bool:
    """Irish PPS number: seven digits, a check letter, optionally a second letter (mod 23)."""
    value = value.upper()
    digits, check = value[:7], value[7]
    total = sum(int(d) * w for d, w in zip(digits, range(8, 1, -1), strict=True))
    if len(value) == 9:
        total += (0 if value[8] == "W" else ord(value[8]) - 64) * 9
    rem = total % 23
    return check == ("W" if rem == 0 else chr(64 + rem))


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(value: str) -> bool:
    """Spanish DNI (eight digits + letter) or NIE (X/Y/Z + seven digits + letter): mod 23."""
    value = re.sub(r"[\s-]", "", value.upper())
    body = value[:-1]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    return _DNI_LETTERS[int(body) % 23] == value[-1]


_CURP_CHARS = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"


def curp_ok(value: str) -> bool:
    """Mexican CURP: 18 characters, the last a check digit over the first 17."""
    value = value.upper()
    if not _valid_yymmdd(value[4:10]):
        return False
    total = sum(_CURP_CHARS.index(c) * (18 - i) for i, c in enumerate(value[:17]))
    return (10 - total % 10) % 10 == int(value[17])


_RFC_CHARS = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ"


def rfc_ok(value: str) -> bool:
    """Mexican RFC (13 characters for persons, 12 for companies): mod 11 check character."""
    value = value.upper()
    if not _valid_yymmdd(value[-9:-3]):
        return False
    padded = value.rjust(13)
    total = sum(_RFC_CHARS.index(c) * (13 - i) for i, c in enumerate(padded[:12]))
    rem = total % 11
    check = "0" if rem == 0 else ("A" if 11 - rem == 10 else str(11 - rem))
    return check == value[-1]


def _valid_yymmdd(s: str) -> bool:
    month, day = int(s[2:4]), int(s[4:6])
    return 1 <= month <= 12 and 1 <= day <= 31
