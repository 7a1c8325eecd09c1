"""Valid identifiers for the adversarial corpus: every number planted carries its real check
digits, so a detector that validates them has to accept it, and look-alikes that fail the
check are benign (`must_keep`)."""


def luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def card(prefix15: str) -> str:
    assert len(prefix15) == 15 and prefix15.isdigit()
    return prefix15 + luhn_digit(prefix15)


def luhn_ok(number: str) -> bool:
    digits = [c for c in number if c.isdigit()]
    return luhn_digit("".join(digits[:-1])) == digits[-1]


def _iban_num(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s))


def iban(country: str, bban: str) -> str:
    check = 98 - _iban_num(bban + country + "00") % 97
    return f"{country}{check:02d}{bban}"


def iban_ok(s: str) -> bool:
    s = s.replace(" ", "").upper()
    return _iban_num(s[4:] + s[:4]) % 97 == 1


def spaced(s: str, n: int = 4) -> str:
    return " ".join(s[i : i + n] for i in range(0, len(s), n))


DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni(num8: str) -> str:
    return num8 + DNI_LETTERS[int(num8) % 23]


def nie(prefix: str, num7: str) -> str:
    return prefix + num7 + DNI_LETTERS[int(str("XYZ".index(prefix)) + num7) % 23]


def steuer_id(first10: str) -> str:
    product = 10
    for ch in first10:
        s = (int(ch) + product) % 10
        if s == 0:
            s = 10
        product = (s * 2) % 11
    check = 11 - product
    return first10 + str(0 if check == 10 else check)


def nir(first13: str) -> str:
    key = 97 - int(first13) % 97
    return f"{first13}{key:02d}"


_CF_ODD = {
    **dict(zip("0123456789", [1, 0, 5, 7, 9, 13, 15, 17, 19, 21])),
    **dict(
        zip(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23],
        )
    ),
}


def codice_fiscale(first15: str) -> str:
    total = 0
    for i, ch in enumerate(first15):
        if i % 2 == 0:
            total += _CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - ord("A")
    return first15 + chr(ord("A") + total % 26)


def bsn(first8: str) -> str:
    total = sum(int(d) * w for d, w in zip(first8, range(9, 1, -1)))
    for last in range(10):
        if (total - last) % 11 == 0:
            return first8 + str(last)
    raise ValueError("no BSN check digit for " + first8)


def cpf(first9: str) -> str:
    d = [int(c) for c in first9]
    s1 = sum(x * w for x, w in zip(d, range(10, 1, -1)))
    c1 = 0 if s1 % 11 < 2 else 11 - s1 % 11
    d.append(c1)
    s2 = sum(x * w for x, w in zip(d, range(11, 1, -1)))
    c2 = 0 if s2 % 11 < 2 else 11 - s2 % 11
    n = first9 + str(c1) + str(c2)
    return f"{n[0:3]}.{n[3:6]}.{n[6:9]}-{n[9:11]}"


def pesel(first10: str) -> str:
    w = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    s = sum(int(c) * x for c, x in zip(first10, w))
    return first10 + str((10 - s % 10) % 10)


def nif_pt(first8: str) -> str:
    s = sum(int(c) * w for c, w in zip(first8, range(9, 1, -1)))
    c = 11 - s % 11
    return first8 + str(0 if c >= 10 else c)


def personnummer(yymmdd: str, nnn: str) -> str:
    return f"{yymmdd}-{nnn}{luhn_digit(yymmdd + nnn)}"


def be_national(first9: str) -> str:
    check = 97 - int(first9) % 97
    n = f"{first9}{check:02d}"
    return f"{n[0:2]}.{n[2:4]}.{n[4:6]}-{n[6:9]}.{n[9:11]}"
