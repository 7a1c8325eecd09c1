"""The kinds of escape of issue 19, each with its own values for the two halves of the corpus.

Every kind returns items: what to put where in an event (`props`, `top`, `title`, `url`,
`headers`) or a whole request (`raw`), the values that must not reach the vendor (`planted`,
as they read after every decoding) and benign look-alikes that should survive (`must_keep`).
`HOLDOUT` and `DEV` never share a planted value: the dev half is developed against, the
holdout half measures what generalizes."""

import base64
import gzip
import json
import re
import urllib.parse

import ids
from vendors import b64, b64url, dumps, q

# Markers replaced after the request is built (see gen.py): a raw JSON number, and a JSON
# string written with \u escapes.
def num(text: str) -> str:
    return f"@@NUM:{text}@@"


def esc(text: str) -> str:
    return f"@@ESC:{text}@@"


def item(planted, props=None, must_keep=(), **kw):
    out = {"planted": list(planted), "must_keep": list(must_keep)}
    if props is not None:
        out["props"] = props
    out.update(kw)
    return out


def pick(split, holdout, dev):
    return holdout if split == "holdout" else dev


# --- Keys -------------------------------------------------------------------------------

def key_invisible(split):
    chars = pick(
        split,
        ["\u200b", "\u00a0", "\t", "\u00ad", "\u200d", "\ufeff", "\u2060", "\u200c", "FULLWIDTH", "\u034f", " \u200b"],
        ["\u200e", "\u202f", "\u3000", "\u2009", "\u061c", "\u200f", "\u2063", "FULLWIDTH", "\u180e", "\u00a0\u00a0", "\u2028"],
    )
    pairs = pick(
        split,
        [("full_name", "Hans-Peter Müller"), ("last_name", "Wiśniewski-Kowal"), ("birthday", "1987-03-14"),
         ("postal_code", "SW1A 2AA"), ("street", "Calle de Alcalá"), ("date_of_birth", "14.03.1987"),
         ("display_name", "giulia.bianchi.77"), ("first_name", "Aoife Siobhán"), ("username", "jmoreau_lyon"),
         ("zipcode", "75008 Paris"), ("last_name", "Ní Bhriain")],
        [("full_name", "Carmen Ruiz Ortega"), ("last_name", "Kowalczyk-Nowak"), ("birthday", "1992-11-05"),
         ("postal_code", "EC1A 1BB"), ("street", "Rua das Flores"), ("date_of_birth", "05/11/1992"),
         ("display_name", "francesca.romano.88"), ("first_name", "Amélie Noëlle"), ("username", "pvdijk_utrecht"),
         ("zipcode", "1017 CT Amsterdam"), ("name", "Inês Carvalho")],
    )
    out = []
    for i, ((key, value), ch) in enumerate(zip(pairs, chars)):
        if ch == "FULLWIDTH":
            k = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in key)
        else:
            at = (1 + i) % len(key) if split == "holdout" else len(key) // 2
            k = key[:at] + ch + key[at:]
        out.append(item([value], {k: value, "plan": "pro-annual"}, ["pro-annual"],
                        note=f"deny key {key} with U+{ord(ch[0]) if ch != 'FULLWIDTH' else 0xFF00:04X} inside"))
    return out


def key_top_level(split):
    rows = pick(
        split,
        [{"first_name": "Giulia", "last_name": "Bianchi-Rossi"}, {"name": "Oliver Hughes"},
         {"birthday": "1979-08-23"}, {"full_name": "Jean-Luc Moreau"}, {"street": "Rue de Rivoli"},
         {"user": {"last_name": "Silva Pereira", "first_name": "João"}}, {"postal_code": "D02 X285"},
         {"date_of_birth": "1966-02-28"}, {"display_name": "sanne.devries"}, {"username": "lukasz.wisniewski"}],
        [{"first_name": "Francesca", "last_name": "Romano-Esposito"}, {"name": "Harriet Whitfield"},
         {"birthdate": "1958-12-01"}, {"full_name": "Pieter van Dijk"}, {"street": "Via dei Condotti"},
         {"customer": {"last_name": "Eriksson Lind", "first_name": "Lars"}}, {"zip": "SE-114 55"},
         {"dob": "1971-07-19"}, {"display_name": "agnieszka.k"}, {"username": "juergen.schneider"}],
    )
    out = []
    for top in rows:
        planted = [v for v in _leaves(top) if len(v) >= 6]
        out.append(item(planted, {"plan": "team"}, ["team"], top=top, note="deny key at the event's top level"))
    return out


def _leaves(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from _leaves(x)
    elif isinstance(v, list):
        for x in v:
            yield from _leaves(x)
    elif isinstance(v, str):
        yield v


def key_contains_deny(split):
    rows = pick(
        split,
        [("Billing Street", "Paseo de la Castellana"), ("customerFirstName", "Łukasz Tadeusz"),
         ("owner_full_name", "Sanne de Vries"), ("delivery_postcode", "10117 Berlin"),
         ("user_birthday", "1990-04-17"), ("shipping_city", "Vila Nova de Gaia"), ("contactName", "Aoife Ní Bhriain"),
         ("streetName", "Unter den Linden"), ("cardholder_name", "Jean-Luc Moreau"), ("mothers_maiden_last_name", "Kowalska")],
        [("Shipping Street", "Avenida da Liberdade"), ("recipient_last_name", "Schneider-Wolff"),
         ("accountHolderName", "Pieter van Dijk"), ("billing_zip", "00-238 Warszawa"),
         ("child_date_of_birth", "2015-09-30"), ("home_city", "Castellammare di Stabia"), ("guardianFullName", "Harriet Whitfield"),
         ("street_line_1", "Calle de Serrano"), ("nameOnCard", "Amélie Dubois"), ("emergency_contact_name", "Lars Eriksson")],
    )
    return [item([v], {k: v, "currency": "EUR"}, ["EUR"], note=f"key containing a deny word: {k}") for k, v in rows]


def json_in_string(split):
    p = pick(
        split,
        [("maria.garcia.f@correo-ejemplo.es", "María", "García Fernández"), ("h.mueller@beispiel.de", "Hans", "Müller-Lüdenscheidt"),
         ("giulia.bianchi@esempio.it", "Giulia", "Bianchi"), ("j.moreau@exemple.fr", "Jean", "Moreau-Lefèvre"),
         ("sanne@voorbeeld.nl", "Sanne", "de Vries-Bakker")],
        [("carmen.ruiz@ejemplo.es", "Carmen", "Ruiz Ortega"), ("j.schneider@beispiel.at", "Jürgen", "Schneider-Wolff"),
         ("f.romano@esempio.it", "Francesca", "Romano"), ("amelie.dubois@exemple.fr", "Amélie", "Dubois-Martin"),
         ("pieter.vandijk@voorbeeld.nl", "Pieter", "van Dijk-Smit")],
    )
    out = []
    for i, (email, first, last) in enumerate(p):
        inner = {"customer": {"first_name": first, "last_name": last, "email": email}, "step": 2}
        shapes = pick(
            split,
            [{"form_state": dumps(inner)}, {"payload": dumps([inner])}],
            [{"checkout_json": json.dumps(inner, indent=1)}, {"envelope": dumps({"data": dumps(inner)})}],
        )
        for s in shapes:
            out.append(item([email, last], {**s, "step_name": "shipping"}, ["shipping"], note="JSON object in a string value"))
    return out


def base64_value(split):
    rows = pick(
        split,
        [("b64", "olivia.hughes@example.co.uk", None), ("b64url", None, {"email": "s.devries@voorbeeld.nl", "name": "Sanne de Vries"}),
         ("b64nopad", "lukasz.w@przyklad.pl", None), ("b64", None, {"phone": "+48 512 345 678", "plan": "x"}),
         ("b64url", "giulia.b+news@esempio.it", None), ("b64", "Hans-Peter Müller <hp.mueller@beispiel.de>", None),
         ("b64url", None, [{"last_name": "Fernández Castillo"}]), ("b64_in_url", "joao.pereira@exemplo.pt", None),
         ("b64", None, {"user": {"email": "aoife@sampla.ie"}}), ("b64url", "+33 6 12 34 56 78", None)],
        [("b64", "harriet.w@example.org.uk", None), ("b64url", None, {"email": "p.vandijk@voorbeeld.nl", "name": "Pieter van Dijk"}),
         ("b64nopad", "agnieszka.k@przyklad.pl", None), ("b64", None, {"phone": "+34 699 123 456", "plan": "y"}),
         ("b64url", "f.romano+promo@esempio.it", None), ("b64", "Jürgen Schneider <j.schneider@beispiel.at>", None),
         ("b64url", None, [{"last_name": "Ruiz-Ortega Blanco"}]), ("b64_in_url", "ines.carvalho@exemplo.pt", None),
         ("b64", None, {"contact": {"email": "lars.e@exempel.se"}}), ("b64url", "+44 7700 900456", None)],
    )
    out = []
    for how, text, obj in rows:
        raw = text if text is not None else dumps(obj)
        planted = [text.split("<")[-1].rstrip(">")] if text is not None else [v for v in _leaves(obj) if "@" in v or "+" in v or " " in v]
        if how == "b64":
            val = b64(raw)
        elif how == "b64url":
            val = b64url(raw)
        elif how == "b64nopad":
            val = b64(raw).rstrip("=")
        else:
            out.append(item(planted, {"ref_link": f"https://shop.example.com/r?utm_content={q(b64(raw))}"},
                            note="base64 in an allow-listed URL parameter"))
            continue
        out.append(item(planted, {"ctx": val, "ab_group": "B"}, ["B"], note=f"{how} value"))
    return out


def html_entities(split):
    rows = pick(
        split,
        ["maria.garcia&#64;correo-ejemplo.es", "hp.mueller&#x40;beispiel.de", "giulia&commat;esempio.it",
         "olivia&#x0040;example.co.uk", "s&#46;devries&#64;voorbeeld&#46;nl", "&#43;49 151 2345 6789",
         "Mar&iacute;a Garc&iacute;a &lt;maria.g&#64;correo.es&gt;", "jmoreau&#X40;exemple.fr",
         "&#106;&#111;&#97;&#111;&#64;exemplo.pt", "lukasz&amp;#64;przyklad.pl"],
        ["carmen.ruiz&#64;ejemplo.es", "j.schneider&#x40;beispiel.at", "francesca&commat;esempio.it",
         "harriet&#x0040;example.org.uk", "p&#46;vandijk&#64;voorbeeld&#46;nl", "&#43;34 699 123 456",
         "Am&eacute;lie Dubois &lt;amelie.d&#64;exemple.fr&gt;", "lars.e&#X40;exempel.se",
         "&#105;&#110;&#101;&#115;&#64;exemplo.pt", "agnieszka&amp;#64;przyklad.pl"],
    )
    import html

    out = []
    for r in rows:
        decoded = html.unescape(html.unescape(r))
        planted = [w.strip("<>") for w in decoded.split() if "@" in w] or [decoded]
        out.append(item(planted, {"description": r, "source": "newsletter"}, ["newsletter"], note="HTML entities"))
    return out


def percent_phone(split):
    rows = pick(
        split,
        [("utm_term", "+49 151 23456789"), ("ref", "tel:+34612345678"), ("utm_content", "+33 6 12 34 56 78"),
         ("utm_source", "0049 30 12345678"), ("gclid", "+44 20 7946 0958"), ("ref", "+39 347 123 4567"),
         ("utm_medium", "+351 912 345 678"), ("utm_campaign", "+48 512 345 678"), ("fbclid", "+31 6 12345678"),
         ("ref", "+1 (415) 555-0133")],
        [("utm_term", "+49 160 98765432"), ("ref", "tel:+34699123456"), ("utm_content", "+33 7 98 76 54 32"),
         ("utm_source", "0044 7700 900456"), ("gclid", "+43 664 1234567"), ("ref", "+39 333 765 4321"),
         ("utm_medium", "+351 936 543 210"), ("utm_campaign", "+48 601 234 567"), ("fbclid", "+46 70 123 45 67"),
         ("ref", "+1 (212) 555-0177")],
    )
    out = []
    for i, (param, phone) in enumerate(rows):
        enc = urllib.parse.quote(phone, safe="") if i % 2 == 0 else urllib.parse.quote_plus(phone)
        url = f"https://shop.example.com/landing?{param}={enc}&utm_source=ads" if param != "utm_source" else \
            f"https://shop.example.com/landing?{param}={enc}"
        if i % 3 == 2:
            out.append(item([phone.removeprefix("tel:")], {"link": url, "variant": "A"}, ["A"], note=f"percent-encoded phone in {param} of a property URL"))
        else:
            out.append(item([phone.removeprefix("tel:")], {"variant": "A"}, ["A"], url=url, note=f"percent-encoded phone in {param} of the page URL"))
    return out


# --- E-mail oddities --------------------------------------------------------------------

def email_control(split):
    rows = pick(
        split,
        ["olivia.hughes\u0000@example.co.uk", "maria.garcia\u0001@correo-ejemplo.es", "hp.mueller@\u0007beispiel.de",
         "giulia\u001f.bianchi@esempio.it", "jean.moreau@exemple\u007f.fr", "sanne\u200b@voorbeeld.nl",
         "joao\u0000.pereira@exemplo.pt", "aoife@samp\u0008la.ie", "lukasz.w\r\n@przyklad.pl"],
        ["harriet.w\u0000@example.org.uk", "carmen.ruiz\u0002@ejemplo.es", "j.schneider@\u0006beispiel.at",
         "francesca\u001e.romano@esempio.it", "amelie.dubois@exemple\u007f.fr", "pieter\u2060@voorbeeld.nl",
         "ines\u0000.carvalho@exemplo.pt", "lars@exem\u000bpel.se", "agnieszka.k\t@przyklad.pl"],
    )
    out = []
    for r in rows:
        # What comes before the odd character is a person's name or handle too: a detector
        # that matches only the tail after it leaves this part behind.
        head = re.split(r"[\x00-\x1f\x7f\u200b-\u200f\u2060]", r)[0].rstrip(".")
        planted = [r] + ([head] if len(head) >= 5 and "@" not in head else [])
        out.append(item(planted, {"contact": r, "lang": "de"}, ["de"], note="control or format character inside an e-mail"))
    return out


def email_quoted(split):
    rows = pick(
        split,
        ['"maria garcia"@correo-ejemplo.es', '"hans..mueller"@beispiel.de', '"giulia@home"@esempio.it',
         '"jean-luc moreau"@[192.0.2.77]', "olivia.hughes@[IPv6:2001:db8::77]", '"sanne(at)work"@voorbeeld.nl'],
        ['"carmen ruiz"@ejemplo.es', '"jurgen..schneider"@beispiel.at', '"francesca@casa"@esempio.it',
         '"amelie dubois"@[198.51.100.23]', "harriet.w@[IPv6:2001:db8::99]", '"pieter(at)huis"@voorbeeld.nl'],
    )
    out = []
    for r in rows:
        # The local part alone (a full name, often) must not survive a rewrite of the domain.
        local = r.rsplit("@", 1)[0].strip('"')
        out.append(item([r, local], {"reply_to_addr": r, "tier": "gold"}, ["gold"], note="quoted local part or address literal"))
    return out


# --- Numbers ----------------------------------------------------------------------------

def number_card(split):
    cards = pick(
        split,
        [ids.card("453914880343646"), ids.card("549169000012345"), ids.card("401288888888188"),
         ids.card("601100099013942"), ids.card("530125001234567"),
         ids.card("412345678901234"), ids.card("455673758112345"), ids.card("520082828282821"),
         ids.card("475129000123456"), ids.card("636368123456789")],
        [ids.card("492912345678901"), ids.card("542523343010987"), ids.card("411122223333444"),
         ids.card("601111112222333"), ids.card("222300004840010"), ids.card("448807123456789"),
         ids.card("476173000000001"), ids.card("510510510510510"), ids.card("462263123456789"),
         ids.card("679999123456789")],
    )
    forms = pick(
        split,
        ["{c}.0", "{m}e15", "-{c}", "{c}", "{m}E+15", "{c}0e-1", "0.{c}e16", "-{m}e15", "{c}.00", "{m}e+15"],
        ["{c}.0", "{m}E15", "-{c}.0", "{c}", "{m}e+015", "{c}00e-2", "0.0{c}e17", "-{c}e0", "{c}.000", "{m}E+15"],
    )
    out = []
    for card, form in zip(cards, forms):
        text = form.format(c=card, m=card[0] + "." + card[1:])
        bad = str(int(card) + 1)  # fails Luhn: an order number, not a card
        out.append(item([card], {"payment_ref": num(text), "order_no": num(bad)}, [bad],
                        note=f"card number as a JSON number written {form}", json_only=True))
    return out


def number_phone(split):
    phones = pick(
        split,
        ["4915123456789", "34612345678", "447700900123", "33612345678", "393471234567", "351912345678", "48512345678", "14155550133"],
        ["4916098765432", "34699123456", "447700900456", "33798765432", "393337654321", "351936543210", "48601234567", "12125550177"],
    )
    keys = pick(split, ["msisdn", "contact_no", "mobile", "wa_id", "sms_to", "callback", "caller", "handynummer"],
                ["msisdn", "tel_no", "cell", "whatsapp", "notify_sms", "rueckruf", "telefono_n", "dial"])
    return [item([p], {k: num(p if i % 2 == 0 else p + ".0"), "count": 3}, note="phone as a JSON number", json_only=True)
            for i, (k, p) in enumerate(zip(keys, phones))]


# --- Detector gaps ----------------------------------------------------------------------

def iban(split):
    rows = pick(
        split,
        [ids.iban("DE", "500105175407324931"), ids.iban("ES", "21000418450200051332"), ids.iban("FR", "20041010050500013M02606"),
         ids.iban("IT", "X0542811101000000123456"), ids.iban("NL", "ABNA0417164300"), ids.iban("GB", "NWBK60161331926819"),
         ids.iban("PL", "109010140000071219812874"), ids.iban("PT", "000201231234567890154"), ids.iban("BE", "539007547034"),
         ids.iban("AT", "1904300234573201")],
        [ids.iban("DE", "370400440532013000"), ids.iban("ES", "20385778983000760236"), ids.iban("FR", "30006000011234567890189"),
         ids.iban("IT", "Y0300203280000400162854"), ids.iban("NL", "RABO0123456789"), ids.iban("GB", "BARC20000055779911"),
         ids.iban("PL", "611090101400000712198128"), ids.iban("PT", "003506510000000000033"), ids.iban("BE", "685390075470"),
         ids.iban("CH", "0483000000123456789")],
    )
    forms = pick(
        split,
        ["lower_spaced", "lower", "mixed", "dashes", "nbsp", "text_lower", "spaced_odd", "upper_dots", "lower_text_de", "tab"],
        ["lower", "lower_spaced", "mixed_spaced", "slashes", "thin", "text_mixed", "spaced_3", "lower_dots", "text_fr", "nbsp_lower"],
    )
    out = []
    for n, form in zip(rows, forms):
        assert ids.iban_ok(n)
        s4 = ids.spaced(n)
        val = {
            "lower_spaced": s4.lower(), "lower": n.lower(), "mixed": n[:2].title() + n[2:].lower(),
            "mixed_spaced": n[:2].lower() + n[2:4] + " " + ids.spaced(n[4:]),
            "dashes": s4.replace(" ", "-"), "slashes": s4.replace(" ", "/"), "nbsp": s4.replace(" ", "\u00a0"),
            "nbsp_lower": s4.lower().replace(" ", "\u00a0"), "thin": s4.replace(" ", "\u2009"),
            "text_lower": f"bitte überweisen an {s4.lower()} danke", "text_mixed": f"Pay to {n[:2].lower()}{n[2:]} by Friday",
            "spaced_odd": " ".join(n[i:i + 3] for i in range(0, len(n), 3)), "spaced_3": " ".join(n[i:i + 3] for i in range(0, len(n), 3)).lower(),
            "upper_dots": s4.replace(" ", "."), "lower_dots": s4.lower().replace(" ", "."),
            "lower_text_de": f"IBAN: {n.lower()}", "text_fr": f"RIB / IBAN : {s4} (compte joint)", "tab": s4.replace(" ", "\t"),
        }[form]
        out.append(item([n], {"refund_to": val, "amount": 129.9}, [], note=f"IBAN {form}"))
    return out


def phone_national(split):
    rows = pick(
        split,
        [("Tel.: 0049 30 12345678", "0049 30 12345678"), ("Telefon (030) 2345678", "(030) 2345678"),
         ("Handy 0151/23456789", "0151/23456789"), ("tél. 06 12 34 56 78", "06 12 34 56 78"),
         ("móvil 612 34 56 78", "612 34 56 78"), ("call me on 07700 900123", "07700 900123"),
         ("tel +44 (0)20 7946 0958", "+44 (0)20 7946 0958"), ("telefoon 020-1234567", "020-1234567"),
         ("cellulare 347 123 4567", "347 123 4567"), ("telemóvel 912 345 678", "912 345 678"),
         ("電話 03-1234-5678", "03-1234-5678")],
        [("Tel: 0043 1 5054321", "0043 1 5054321"), ("Telefon (089) 7654321", "(089) 7654321"),
         ("Mobil 0170/9876543", "0170/9876543"), ("téléphone 07 98 76 54 32", "07 98 76 54 32"),
         ("teléfono 699 12 34 56", "699 12 34 56"), ("mobile 07911 123456", "07911 123456"),
         ("ring +49 (0)89 1234567", "+49 (0)89 1234567"), ("bel 06-12345678", "06-12345678"),
         ("telefono 06 6982 1234", "06 6982 1234"), ("tel. 501 234 567", "501 234 567"),
         ("携帯 090-1234-5678", "090-1234-5678")],
    )
    return [item([p], {"note": text, "priority": "high"}, ["high"], note="national phone format with a cue word") for text, p in rows]


def coordinates(split):
    rows = pick(
        split,
        [("52.520008° N, 13.404954° E", ["52.520008", "13.404954"]), ("48°51'24.3\"N 2°17'40.2\"E", ["48°51'24.3\"N", "2°17'40.2\"E"]),
         ("N 40° 25.008' W 3° 42.222'", ["40° 25.008'", "3° 42.222'"]), ("40.416775N 3.703790W", ["40.416775", "3.703790"]),
         ("geo:41.902782,12.496366", ["41.902782", "12.496366"]), ("lat: 38.722252 lon: -9.139337", ["38.722252", "-9.139337"]),
         ("POINT(4.895168 52.370216)", ["4.895168", "52.370216"]), ("52,229676 21,012229", ["52,229676", "21,012229"]),
         ("https://www.google.com/maps/@51.507351,-0.127758,17z", ["51.507351", "-0.127758"]),
         ("35°40′52″N 139°46′00″E", ["35°40′52″N", "139°46′00″E"])],
        [("48.137154° N, 11.576124° E", ["48.137154", "11.576124"]), ("41°23'19.2\"N 2°09'32.4\"E", ["41°23'19.2\"N", "2°09'32.4\"E"]),
         ("N 45° 27.834' E 9° 11.322'", ["45° 27.834'", "9° 11.322'"]), ("43.296482N 5.369780E", ["43.296482", "5.369780"]),
         ("geo:50.850346,4.351721", ["50.850346", "4.351721"]), ("lat=45.764043 lng=4.835659", ["45.764043", "4.835659"]),
         ("POINT(-3.188267 55.953251)", ["-3.188267", "55.953251"]), ("50,061947 19,936856", ["50,061947", "19,936856"]),
         ("https://maps.example.com/@59.329323,18.068581,15z", ["59.329323", "18.068581"]),
         ("34°41′37″N 135°30′07″E", ["34°41′37″N", "135°30′07″E"])],
    )
    return [item(p, {"meeting_point": t, "kind": "pickup"}, ["pickup"], note="coordinates notation") for t, p in rows]


def street_address(split):
    rows = pick(
        split,
        [("Gran Vía 28, 28013 Madrid", "Gran Vía 28"), ("Unter den Linden 77, 10117 Berlin", "Unter den Linden 77"),
         ("8 avenue Foch, 75116 Paris", "8 avenue Foch"), ("ul. Długa 12/4, 00-238 Warszawa", "ul. Długa 12/4"),
         ("Via Roma 15, 00184 Roma RM", "Via Roma 15"), ("Rua Augusta 100, 1100-053 Lisboa", "Rua Augusta 100"),
         ("Keizersgracht 123, 1015 CJ Amsterdam", "Keizersgracht 123"), ("Flat 2, 221B Baker Street, London NW1 6XE", "221B Baker Street"),
         ("〒100-0005 東京都千代田区丸の内1丁目9番1号", "丸の内1丁目9番1号"), ("1-9-1 Marunouchi, Chiyoda-ku, Tokyo 100-0005", "1-9-1 Marunouchi"),
         ("Hauptstraße 5a, 80331 München", "Hauptstraße 5a"), ("Calle de Alcalá 45, 3º izq., Madrid", "Calle de Alcalá 45"),
         ("서울특별시 중구 세종대로 110", "세종대로 110"), ("Boulevard Anspach 1, 1000 Bruxelles", "Boulevard Anspach 1")],
        [("Paseo de Gracia 43, 08007 Barcelona", "Paseo de Gracia 43"), ("Kurfürstendamm 21, 10719 Berlin", "Kurfürstendamm 21"),
         ("12 rue de la Paix, 75002 Paris", "12 rue de la Paix"), ("ul. Marszałkowska 84/92 m. 7, 00-514 Warszawa", "ul. Marszałkowska 84/92"),
         ("Corso Buenos Aires 33, 20124 Milano", "Corso Buenos Aires 33"), ("Avenida da Liberdade 110, 1269-046 Lisboa", "Avenida da Liberdade 110"),
         ("Prinsengracht 263, 1016 GV Amsterdam", "Prinsengracht 263"), ("10 Downing Street, London SW1A 2AA", "10 Downing Street"),
         ("〒530-0001 大阪府大阪市北区梅田3丁目1番1号", "梅田3丁目1番1号"), ("3-1-1 Umeda, Kita-ku, Osaka 530-0001", "3-1-1 Umeda"),
         ("Bahnhofstrasse 12b, 8001 Zürich", "Bahnhofstrasse 12b"), ("Calle Mayor 7, 2º dcha., Madrid", "Calle Mayor 7"),
         ("北京市朝阳区建国路88号", "建国路88号"), ("Mariahilfer Straße 99, 1060 Wien", "Mariahilfer Straße 99")],
    )
    keys = ["hq", "ship_to", "deliver_to", "pickup_point", "office", "venue", "billing", "dest", "loc_text", "drop_off",
            "store", "home", "site", "branch"]
    return [item([p], {keys[i % len(keys)]: t, "channel": "web"}, ["web"], note="international street address")
            for i, (t, p) in enumerate(rows)]


def national_id(split):
    rows = pick(
        split,
        [("DNI 48291736" + ids.dni("48291736")[-1], ids.dni("48291736")), ("NIE " + ids.nie("Y", "2345671"), ids.nie("Y", "2345671")),
         ("NINO JG 10 37 59 A", "JG 10 37 59 A"), ("Steuer-ID " + "86 095 742 719", "86 095 742 719"),
         ("NIR " + ids.nir("1850775116123"), ids.nir("1850775116123")), ("CF " + ids.codice_fiscale("BNCGLI85M45H501"), ids.codice_fiscale("BNCGLI85M45H501")),
         ("BSN " + ids.bsn("27384659"), ids.bsn("27384659")), ("CPF " + ids.cpf("123456789"), ids.cpf("123456789")),
         ("PESEL " + ids.pesel("8512310123"), ids.pesel("8512310123")), ("NIF " + ids.nif_pt("23456789"), ids.nif_pt("23456789")),
         ("personnummer " + ids.personnummer("850709", "123"), ids.personnummer("850709", "123")),
         ("rijksregisternummer " + ids.be_national("900101123"), ids.be_national("900101123")),
         (ids.dni("71234567"), ids.dni("71234567")), (ids.codice_fiscale("VRDGPP80A01F205"), ids.codice_fiscale("VRDGPP80A01F205"))],
        [("DNI " + ids.dni("39184726"), ids.dni("39184726")), ("NIE " + ids.nie("X", "9876543"), ids.nie("X", "9876543")),
         ("NI number AB 12 34 56 C", "AB 12 34 56 C"), ("Steuer-ID " + ids.steuer_id("4736291850"), ids.steuer_id("4736291850")),
         ("n° sécu " + ids.nir("2920613055018"), ids.nir("2920613055018")), ("codice fiscale " + ids.codice_fiscale("RMNFNC88D50F839"), ids.codice_fiscale("RMNFNC88D50F839")),
         ("burgerservicenummer " + ids.bsn("19283746"), ids.bsn("19283746")), ("CPF " + ids.cpf("987654321").replace(".", "").replace("-", ""), ids.cpf("987654321").replace(".", "").replace("-", "")),
         ("PESEL " + ids.pesel("9202154321"), ids.pesel("9202154321")), ("NIF PT" + ids.nif_pt("51234567"), ids.nif_pt("51234567")),
         ("personnr " + ids.personnummer("920315", "456"), ids.personnummer("920315", "456")),
         ("NN " + ids.be_national("920315456"), ids.be_national("920315456")),
         (ids.nie("Z", "1234567"), ids.nie("Z", "1234567")), (ids.steuer_id("5927384016"), ids.steuer_id("5927384016"))],
    )
    keys = ["verification", "doc", "customer_ref", "kyc_note", "tax_ref", "member", "remark", "ident", "ref_no", "info",
            "check", "id_text", "code", "extra"]
    out = []
    for i, (t, p) in enumerate(rows):
        out.append(item([p], {keys[i]: t, "tier": "basic"}, ["basic"], note="national identifier with check digits"))
    return out


def name_in_title(split):
    rows = pick(
        split,
        [("Bestellbestätigung für Hans-Peter Müller", "Hans-Peter Müller"), ("Welcome back, María García Fernández!", "María García Fernández"),
         ("Profil von Łukasz Wiśniewski – Einstellungen", "Łukasz Wiśniewski"), ("Invoice 4411 – Giulia Bianchi", "Giulia Bianchi"),
         ("Dr. Oliver Hughes | Patient Portal", "Oliver Hughes"), ("Mme Amélie Lefèvre - Mon compte", "Amélie Lefèvre"),
         ("Sr. João Silva Pereira — Encomendas", "João Silva Pereira"), ("田中 博 様のマイページ", "田中 博"),
         ("Account of Sanne de Vries-Bakker", "Sanne de Vries-Bakker"), ("Ticket #88 from Aoife Ní Bhriain", "Aoife Ní Bhriain")],
        [("Rechnung für Jürgen Schneider-Wolff", "Jürgen Schneider-Wolff"), ("¡Hola, Carmen Ruiz Ortega!", "Carmen Ruiz Ortega"),
         ("Konto: Agnieszka Kowalczyk – Zamówienia", "Agnieszka Kowalczyk"), ("Ordine 5521 – Francesca Romano", "Francesca Romano"),
         ("Prof. Harriet Whitfield | Staff Directory", "Harriet Whitfield"), ("M. Pieter van Dijk - Mijn account", "Pieter van Dijk"),
         ("Sra. Inês Carvalho — Pedidos", "Inês Carvalho"), ("佐藤 美咲 様 ご注文履歴", "佐藤 美咲"),
         ("Dashboard of Lars Eriksson-Lind", "Lars Eriksson-Lind"), ("Message from Siobhán O'Connor", "Siobhán O'Connor")],
    )
    out = []
    for i, (title, name) in enumerate(rows):
        props = {"screen_name": title, "plan": "basic"} if i % 4 == 3 else None
        extra = {"page_name": title} if i % 3 == 1 else {}
        out.append(item([name], props, title=title, note="person name in a page title", **extra))
    return out


# --- Edges ------------------------------------------------------------------------------

def header_values(split):
    rows = pick(
        split,
        [("authorization", "Basic " + b64("maria.garcia.f@correo-ejemplo.es:Sommer2024!"), "maria.garcia.f@correo-ejemplo.es"),
         ("authorization", "Bearer olivia.hughes@example.co.uk", "olivia.hughes@example.co.uk"),
         ("accept", "application/json; user=hp.mueller@beispiel.de", "hp.mueller@beispiel.de"),
         ("x-retry-count", "Jean-Luc Moreau +33 6 12 34 56 78", "+33 6 12 34 56 78"),
         ("accept", "text/plain, Giulia Bianchi-Rossi", "Giulia Bianchi-Rossi"),
         ("x-retry-count", "1; email=sanne@voorbeeld.nl", "sanne@voorbeeld.nl"),
         ("authorization", "Basic " + b64("fake-write-key:lukasz.w@przyklad.pl"), "lukasz.w@przyklad.pl"),
         ("accept", "*/*; iban=" + ids.iban("DE", "500105175407324931"), ids.iban("DE", "500105175407324931")),
         ("x-retry-count", "0 " + ids.card("453914880343646"), ids.card("453914880343646")),
         ("authorization", "Bearer " + b64(dumps({"sub": "joao.pereira@exemplo.pt"})), "joao.pereira@exemplo.pt")],
        [("authorization", "Basic " + b64("carmen.ruiz@ejemplo.es:Invierno2025?"), "carmen.ruiz@ejemplo.es"),
         ("authorization", "Bearer harriet.w@example.org.uk", "harriet.w@example.org.uk"),
         ("accept", "application/json; who=j.schneider@beispiel.at", "j.schneider@beispiel.at"),
         ("x-retry-count", "Amélie Dubois +33 7 98 76 54 32", "+33 7 98 76 54 32"),
         ("accept", "text/html, Francesca Romano-Esposito", "Francesca Romano-Esposito"),
         ("x-retry-count", "2; mail=pieter@voorbeeld.nl", "pieter@voorbeeld.nl"),
         ("authorization", "Basic " + b64("fake-write-key:agnieszka.k@przyklad.pl"), "agnieszka.k@przyklad.pl"),
         ("accept", "*/*; acct=" + ids.iban("ES", "20385778983000760236"), ids.iban("ES", "20385778983000760236")),
         ("x-retry-count", "3 " + ids.card("492912345678901"), ids.card("492912345678901")),
         ("authorization", "Bearer " + b64url(dumps({"email": "ines.carvalho@exemplo.pt"})), "ines.carvalho@exemplo.pt")],
    )
    return [item([p], {"plan": "pro"}, ["pro"], headers=[(h, v)], note=f"PII in the forwarded {h} header") for h, v, p in rows]


def posthog_passthrough(split):
    e = pick(split, "maria.garcia.f@correo-ejemplo.es", "carmen.ruiz@ejemplo.es")
    name = pick(split, "María García Fernández", "Carmen Ruiz Ortega")
    ev = dumps({"event": "$pageview", "properties": {"email": e, "distinct_id": e, "token": "phc_x"}})
    tok = "phc_fakeAdvToken123"
    rows = pick(
        split,
        [f"/posthog/static/array.js?email={q(e)}",
         f"/posthog/static/recorder.js?v=1.449.2&distinct_id={q(e)}",
         f"/posthog/array/{tok}/config?data={q(b64(ev))}",
         f"/posthog/array/{tok}/config.js?person={q(name)}",
         f"/posthog/api/surveys/?token={tok}&email={q(e)}",
         f"/posthog/static/{q(e)}/array.js",
         f"/posthog/static/..;/e/?data={q(b64(ev))}",
         f"/posthog/static/array.js;email={q(e)}",
         f"/posthog/api/early_access_features/?token={tok}&distinct_id={q(e)}",
         f"/posthog/static/array.js?data={b64url(ev)}",
         f"/posthog/api/projects/@current/persons/?search={q(name)}"],
        [f"/posthog/static/lazy-recorder.js?user={q(e)}",
         f"/posthog/static/surveys.js?v=1.449.2&person_email={q(e)}",
         f"/posthog/array/{tok}/config?ctx={q(b64url(ev))}",
         f"/posthog/array/{tok}/config.js?name={q(name)}&v=2",
         f"/posthog/api/feature_flag/local_evaluation?token={tok}&mail={q(e)}",
         f"/posthog/api/{q(e)}/surveys/",
         f"/posthog/static/..;/batch/?data={q(b64(ev))}",
         f"/posthog/array/{tok};jsessionid={q(e)}/config",
         f"/posthog/api/surveys/?token={tok}&distinct_id={q(b64(e))}",
         f"/posthog/static/toolbar.js?state={q(b64(ev))}",
         f"/posthog/static/exception-autocapture.js?u={q(name)}"],
    )
    out = []
    for target in rows:
        planted = [name] if name in urllib.parse.unquote(target) or q(name) in target else [e]
        out.append(item(planted, raw={"method": "GET", "target": target, "headers": [["accept", "*/*"]], "body": ""},
                        vendors=["posthog"], note="PostHog pass-through GET"))
    return out


# --- Own ideas --------------------------------------------------------------------------

def json_unicode_escape(split):
    rows = pick(
        split,
        [("contact", "olivia.hughes@example.co.uk"), ("full_name", "Giulia Bianchi-Rossi"), ("note", "+49 151 23456789"),
         ("memo", "Gran Vía 28, Madrid"), ("ref", ids.iban("NL", "ABNA0417164300")), ("e\u006dail", "hp.mueller@beispiel.de")],
        [("contact", "harriet.w@example.org.uk"), ("full_name", "Francesca Romano-Esposito"), ("note", "+34 699 123 456"),
         ("memo", "Kurfürstendamm 21, Berlin"), ("ref", ids.iban("BE", "685390075470")), ("phone", "+44 7700 900456")],
    )
    out = []
    for i, (k, v) in enumerate(rows):
        key = esc(k) if i % 2 == 1 else k
        out.append(item([v], {key: esc(v), "stage": "beta"}, ["beta"], json_only=True,
                        note="value (and key) written with JSON \\u escapes"))
    return out


def double_encoding(split):
    e = pick(split, ["olivia.hughes@example.co.uk", "lukasz.w@przyklad.pl", "s.devries@voorbeeld.nl"],
             ["harriet.w@example.org.uk", "agnieszka.k@przyklad.pl", "p.vandijk@voorbeeld.nl"])
    phone = pick(split, "+49 151 23456789", "+34 699 123 456")
    gzipped = base64.b64encode(gzip.compress(dumps({"email": e[2]}).encode(), mtime=0)).decode()
    rows = [
        ({"landing": "https://shop.example.com/?utm_term=" + q(q(e[0]))}, [e[0]], "double percent-encoded e-mail in URL"),
        ({"landing": "https://shop.example.com/?utm_content=" + q(q(phone))}, [phone], "double percent-encoded phone in URL"),
        ({"blob": b64(b64(e[1]))}, [e[1]], "base64 of base64"),
        ({"blob": gzipped}, [e[2]], "gzip in base64"),
        ({"blob": q(b64(dumps({"phone": phone})))}, [phone], "percent-encoded base64 JSON"),
        ({"blob": b64(q(e[0]))}, [e[0]], "base64 of a percent-encoded e-mail"),
    ]
    if split == "dev":
        rows = rows[1:] + rows[:1]
    return [item(p, {**props, "source": "crm"}, ["crm"], note=n) for props, p, n in rows]


def url_tricks(split):
    e = pick(split, "olivia.hughes@example.co.uk", "harriet.w@example.org.uk")
    user = pick(split, "maria.garcia", "carmen.ruiz")
    rows = pick(
        split,
        [(f"https://{user}:Sommer2024@shop.example.com/account", [user + ":Sommer2024"]),
         (f"https://shop.example.com/#/account?email={q(e)}", [e]),
         (f"https://shop.example.com/?utm_source={q(e)}", [e]),
         ("https://shop.example.com/users/maria-garcia-fernandez/orders", ["maria-garcia-fernandez"]),
         (f"https://shop.example.com/unsubscribe/{b64url(e)}", [e]),
         (f"https://shop.example.com/login;email={q(e)}", [e])],
        [(f"https://{user}:Invierno2025@shop.example.com/profile", [user + ":Invierno2025"]),
         (f"https://shop.example.com/#!/settings?mail={q(e)}", [e]),
         (f"https://shop.example.com/?ref={q(e)}", [e]),
         ("https://shop.example.com/customers/carmen-ruiz-ortega/invoices", ["carmen-ruiz-ortega"]),
         (f"https://shop.example.com/confirm/{b64(e)}", [e]),
         (f"https://shop.example.com/p;jsessionid=1;user={q(e)}", [e])],
    )
    return [item(p, {"plan": "team"}, ["team"], url=u, note="personal data in URL userinfo, fragment, path or matrix") for u, p in rows]


def confusable_email(split):
    rows = pick(
        split,
        ["olivia．hughes＠example．co．uk", "maria.garcia(at)correo-ejemplo.es", "hp.mueller [at] beispiel [dot] de",
         "GIULIA.BIANCHI@ESEMPIO.IT", "joão.pereira@exemplo.pt", "sanne@xn--voorbeld-n2a.nl", "aoife @ sampla.ie"],
        ["harriet．w＠example．org．uk", "carmen.ruiz(at)ejemplo.es", "j.schneider [at] beispiel [dot] at",
         "FRANCESCA.ROMANO@ESEMPIO.IT", "inês.carvalho@exemplo.pt", "pieter@xn--voorbld-bva.nl", "lars @ exempel.se"],
    )
    return [item([r], {"reply": r, "locale": "en-GB"}, ["en-GB"], note="e-mail in an unusual spelling") for r in rows]


def pii_as_key(split):
    rows = pick(
        split,
        [("olivia.hughes@example.co.uk", True), ("María García Fernández", {"visits": 3}), ("+34 612 345 678", 1),
         (ids.iban("ES", "21000418450200051332"), "primary"), ("Unter den Linden 77", "office")],
        [("harriet.w@example.org.uk", True), ("Carmen Ruiz Ortega", {"visits": 5}), ("+44 7700 900456", 1),
         (ids.iban("DE", "370400440532013000"), "primary"), ("Kurfürstendamm 21", "office")],
    )
    return [item([k], {"seen_by": {k: v, "ok": True}}, note="personal data as an object key") for k, v in rows]


KINDS = [
    key_invisible, key_top_level, key_contains_deny, json_in_string, base64_value, html_entities, percent_phone,
    email_control, email_quoted, number_card, number_phone, iban, phone_national, coordinates, street_address,
    national_id, name_in_title, header_values, posthog_passthrough, json_unicode_escape, double_encoding, url_tricks,
    confusable_email, pii_as_key,
]


def transport(split):
    """Encodings around the whole body rather than inside a value: what a proxy that trusts
    headers, or reads only the first document, would pass on undecoded."""
    import zlib

    from vendors import gz, wrap

    e = pick(split, ["olivia.hughes@example.co.uk", "maria.garcia.f@correo-ejemplo.es", "hp.mueller@beispiel.de",
                     "s.devries@voorbeeld.nl", "giulia.bianchi@esempio.it"],
             ["harriet.w@example.org.uk", "carmen.ruiz@ejemplo.es", "j.schneider@beispiel.at",
              "p.vandijk@voorbeeld.nl", "f.romano@esempio.it"])
    phone = pick(split, "+49 151 23456789", "+34 699 123 456")

    def built(vendor, variant, props, n):
        return wrap(vendor, variant, {"props": props}, 9000 + n + (0 if split == "holdout" else 500))

    def with_body(r, body: bytes, headers):
        r = {k: v for k, v in r.items() if k not in ("body", "body_base64")}
        r["headers"] = [list(h) for h in headers]
        r["body_base64"] = base64.b64encode(body).decode()
        return r

    def body_of(r) -> bytes:
        return r["body"].encode() if "body" in r else base64.b64decode(r["body_base64"])

    out = []
    # gzip labelled in capitals, and gzip with no label at all (sniffed by magic bytes, or not).
    r = built(pick(split, "segment", "rudderstack"), pick(split, "batch_json", "track"), {"contact": e[0]}, 1)
    out.append(item([e[0]], raw=with_body(r, gz(r["body"]), [("content-type", "application/json"), ("content-encoding", "GZIP")]),
                    note="gzip body, Content-Encoding in capitals"))
    r = built(pick(split, "amplitude", "segment"), pick(split, "httpapi", "track_t"), {"contact": e[1]}, 2)
    out.append(item([e[1]], raw=with_body(r, gz(r["body"]), [("content-type", "application/json")]),
                    note="gzip body without Content-Encoding"))
    # zlib (deflate) and two layers of gzip.
    r = built(pick(split, "posthog", "amplitude"), pick(split, "e_batch", "batch"), {"contact": e[2]}, 3)
    out.append(item([e[2]], raw=with_body(r, zlib.compress(r["body"].encode()), [("content-type", "application/json"),
                                                                                   ("content-encoding", "deflate")]),
                    note="deflate (zlib) body"))
    r = built(pick(split, "rudderstack", "posthog"), pick(split, "track", "i_v0"), {"contact": e[3]}, 4)
    out.append(item([e[3]], raw=with_body(r, gzip.compress(gz(r["body"]), mtime=0),
                                          [("content-type", "application/json"), ("content-encoding", "gzip, gzip")]),
                    note="gzip twice, both named"))
    # A byte-order mark before the JSON, and a second JSON document after the first.
    r = built(pick(split, "segment", "plausible"), pick(split, "track_t", "p_obj"), {"contact": e[4]}, 5)
    out.append(item([e[4]], raw=with_body(r, b"\xef\xbb\xbf" + r["body"].encode(), [("content-type", "text/plain")]),
                    note="UTF-8 byte-order mark before the body"))
    first = built(pick(split, "segment", "rudderstack"), pick(split, "track_t", "track"), {"plan": "pro"}, 6)
    second = built(pick(split, "segment", "rudderstack"), pick(split, "track_t", "track"), {"contact": e[0], "tel": phone}, 7)
    out.append(item([e[0], phone], raw=with_body(first, (first["body"] + "\n" + second["body"]).encode(), first["headers"]),
                    note="a second JSON document after the first"))
    # Duplicate members: the vendor's parser keeps the last one.
    r = built(pick(split, "mixpanel", "amplitude"), pick(split, "import_json", "httpapi"), {"note": "ok"}, 8)
    dup = f'"note":"ok","note":"call {phone}"'
    body = r["body"].replace('"note":"ok"', dup, 1)
    out.append(item([phone], raw=with_body(r, body.encode(), r["headers"]), note="duplicate members, the last one personal"))
    # UTF-16 text, declared.
    r = built(pick(split, "plausible", "segment"), pick(split, "meta", "batch_json"), {"contact": e[2]}, 9)
    out.append(item([e[2]], raw=with_body(r, r["body"].encode("utf-16"), [("content-type", "application/json; charset=utf-16")]),
                    note="UTF-16 body"))
    # Standard (not url-safe) padded base64 where Snowplow sends base64url.
    r = built("snowplow", "post_ue_px", {"contact": e[3], "tel": phone}, 10)
    doc = json.loads(r["body"])
    px = doc["data"][0]["ue_px"]
    raw_json = base64.urlsafe_b64decode(px + "=" * (-len(px) % 4))
    doc["data"][0]["ue_px"] = base64.b64encode(raw_json).decode()
    out.append(item([e[3], phone], raw=with_body(r, dumps(doc).encode(), r["headers"]), note="ue_px in standard base64"))
    # Mixpanel's data= in url-safe base64 and sent as text/plain (an unload beacon).
    r = built("mixpanel", "beacon", {"contact": e[4]}, 11)
    data = urllib.parse.unquote(r["body"][len("data="):])
    r_body = "data=" + base64.urlsafe_b64encode(base64.b64decode(data)).decode()
    out.append(item([e[4]], raw=with_body(r, r_body.encode(), r["headers"]), note="data= in url-safe base64"))
    for it in out:
        it["vendors"] = [it["raw"]["target"].split("/")[1]]
    return out


KINDS.append(transport)
