//! The value rules' table tests: each detector's shapes and near misses, actions, URLs.
use super::*;
use crate::scrub::hash::PseudonymKey;

fn rules() -> ValueRules {
    ValueRules::every_rule(Some(Truncation::default()))
}

fn scrubbed(text: &str) -> String {
    let (mut out, mut tmp, mut report) = (Vec::new(), Vec::new(), Report::default());
    if rules().scrub(text.as_bytes(), &mut out, &mut tmp, &mut report) {
        String::from_utf8(out).unwrap()
    } else {
        text.to_string()
    }
}

fn scrubbed_with(rules: &ValueRules, text: &str, report: &mut Report) -> String {
    let (mut out, mut tmp) = (Vec::new(), Vec::new());
    assert!(
        rules.scrub(text.as_bytes(), &mut out, &mut tmp, report),
        "{text}"
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn detectors_can_mask_or_hash_instead_of_redacting() {
    let mut rules = rules();
    rules.phone_marker = Some(Replacement::Mask { keep_last: 4 });
    rules.card_marker = Some(Replacement::Mask { keep_last: 4 });
    rules.email_marker = Some(Replacement::Hash(PseudonymKey::new(
        b"a test key, 16+ bytes",
    )));
    let mut report = Report::default();
    assert_eq!(
        scrubbed_with(&rules, "call +1 415 555 0100 today", &mut report),
        "call ***********0100 today"
    );
    assert_eq!(
        scrubbed_with(&rules, "card 4111 1111 1111 1111.", &mut report),
        "card ***************1111."
    );
    assert_eq!(report.get(RuleKind::PhoneValue, FieldOutcome::Masked), 1);
    assert_eq!(report.get(RuleKind::CardValue, FieldOutcome::Masked), 1);

    let first = scrubbed_with(&rules, "from jane.doe@example.com", &mut report);
    let again = scrubbed_with(&rules, "from jane.doe@example.com", &mut report);
    let other = scrubbed_with(&rules, "from john.roe@example.com", &mut report);
    assert!(
        !first.contains("jane") && first.starts_with("from "),
        "{first}"
    );
    assert_eq!(first, again, "one address, one pseudonym");
    assert_ne!(first, other);
    assert_eq!(report.get(RuleKind::EmailValue, FieldOutcome::Hashed), 3);
}

#[test]
fn national_phone_shapes_and_their_near_misses() {
    for phone in [
        "(415) 555-0100",
        "(415)555-0100",
        "415-555-0100",
        "415.555.0100",
        "030 1234567",
        "0699-6808486",
        "(0933 1874485)",
    ] {
        let text = format!("call {phone} today");
        assert!(
            scrubbed(&text).contains("[phone]"),
            "{text}: {}",
            scrubbed(&text)
        );
        assert!(
            !scrubbed(&text).contains(&phone[phone.len() - 4..]),
            "{text}"
        );
    }
    for near_miss in [
        "ISBN 978-3-16-148410-0",
        "2026-11-23 10:30:00",
        "build 2026.11.23.1",
        "order 0042 1234567",
        "ref 012 34567",
        "call 555-0100",
        "(123) 555-0100",
        "415-055-0100",
        "4155550100",
        "415-555-01000",
        "id 0123 4567890123",
        "x415-555-0100",
    ] {
        assert_eq!(scrubbed(near_miss), near_miss);
    }
}

#[test]
fn shapes_of_other_countries_are_found_in_text() {
    for (input, want) in [
        ("pay to de89370400440532013000 now", "pay to [iban] now"),
        ("de89 3704 0044 0532 0130 00, thanks", "[iban], thanks"),
        ("IBAN DE89-3704-0044-0532-0130-00", "IBAN [iban]"),
        ("ruf 0049 30 901820 an", "ruf [phone] an"),
        ("call +44 (0)20 7946 0958 today", "call [phone] today"),
        ("Praxis (030) 1234567", "Praxis [phone]"),
        ("Tel.: 030/1234567", "Tel.: [phone]"),
        ("Handy 01711234567", "Handy [phone]"),
        ("電話: 03-1234-5678", "電話: [phone]"),
        ("at 48.8584 N, 2.2945 E", "at [location]"),
        ("48°51'30.2\"N 2°17'40.2\"E", "[location]"),
        ("Gran Vía 28, Madrid", "[address], Madrid"),
        (
            "Unter den Linden 77, 10117 Berlin",
            "[address], 10117 Berlin",
        ),
        ("8 avenue Foch", "[address]"),
        ("ul. Długa 12/4", "[address]"),
        ("Keizersgracht 123", "[address]"),
        ("東京都千代田区丸の内1-9-2", "[address]"),
        ("1-9-2 Marunouchi, Chiyoda-ku", "[address], Chiyoda-ku"),
        ("2-8-1 Nishi-Shinjuku", "[address]"),
        ("Telefone (11) 98765-4321", "Telefone [phone]"),
        ("DNI 12345678Z", "DNI [national_id]"),
        ("NINO AB 12 34 56 C", "NINO [national_id]"),
        ("Steuer-ID: 86095742719", "Steuer-ID: [national_id]"),
        ("NIR 1 84 12 76 451 089 46", "NIR [national_id]"),
        ("CF RSSMRA85T10A562S", "CF [national_id]"),
        ("BSN 111222333", "BSN [national_id]"),
        ("CPF 529.982.247-25", "CPF [national_id]"),
        ("NIF: 123456789", "NIF: [national_id]"),
        ("PESEL 44051401359", "PESEL [national_id]"),
        ("SSN 123456789", "SSN [ssn]"),
    ] {
        assert_eq!(scrubbed(input), want, "{input}");
    }
    for near_miss in [
        "order 111222333",
        "batch 86095742719",
        "ref 44051401359",
        "SKU AB123456C",
        "12345678A",
        "RSSMRA85T10A562T",
        "Via Email 8 times",
        "iPhone 15 Pro",
        "Route 66",
        "size 4.5 N",
        "score 48-51",
        "customer 0042 123456",
        "Im Jahr 2026",
        "Am Ende 2 Tage",
    ] {
        assert_eq!(scrubbed(near_miss), near_miss);
    }
}

#[test]
fn json_numbers_are_read_as_the_integer_they_denote() {
    let rules = rules();
    let number = |text: &str| {
        let (mut out, mut tmp, mut report) = (Vec::new(), Vec::new(), Report::default());
        match rules.scrub_number(text.as_bytes(), &mut out, &mut tmp, &mut report) {
            ValueChange::Changed => String::from_utf8(out).unwrap(),
            other => format!("{other:?}"),
        }
    };
    for card in [
        "4111111111111111.0",
        "4.111111111111111e15",
        "-4111111111111111",
    ] {
        assert_eq!(number(card), "[card]", "{card}");
    }
    for phone in ["14155550100", "4917612345678", "447946095812"] {
        assert_eq!(number(phone), "[phone]", "{phone}");
    }
    for other in [
        "1795342958448",
        "1795342958",
        "4111111111111112.0",
        "43.69779",
        "-79.337362",
        "4918600764",
    ] {
        assert_eq!(number(other), "Unchanged", "{other}");
    }
}

#[test]
fn fragments_can_go_whole_from_urls_but_hashtags_stay() {
    let mut rules = rules();
    rules.url_drop_fragments = true;
    let mut report = Report::default();
    assert_eq!(
        scrubbed_with(
            &rules,
            "see https://a.example/app#/account/42 now",
            &mut report
        ),
        "see https://a.example/app now"
    );
    assert_eq!(
        scrubbed_with(&rules, "/p?utm_source=x&email=j#top", &mut report),
        "/p?utm_source=x"
    );
    let (mut out, mut tmp) = (Vec::new(), Vec::new());
    assert!(!rules.scrub(b"#summer sale", &mut out, &mut tmp, &mut report));
    // Path segments are text like any other: what a detector finds in them goes.
    assert_eq!(
        scrubbed("https://shop.example/reset/jane.doe@example.com/card/4111111111111111"),
        "https://shop.example/reset/[email]/card/[card]"
    );
    // Without the setting, a plain anchor stays.
    assert_eq!(
        scrubbed("https://a.example/pricing#plans"),
        "https://a.example/pricing#plans"
    );
}

#[test]
fn url_origins_leave_out_people_and_paths() {
    let origin = |text: &str| {
        let mut out = Vec::new();
        url_origin(text.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    };
    assert_eq!(
        origin("HTTPS://jane:pw@Shop.example:8443/a?b#c").as_deref(),
        Some("https://Shop.example:8443/")
    );
    assert_eq!(
        origin("android-app://com.google.android.gm").as_deref(),
        Some("android-app://com.google.android.gm/")
    );
    assert_eq!(
        origin("https://shop.example\\reset\\jane.doe%40gmail.com").as_deref(),
        Some("https://shop.example/")
    );
    for not_absolute in [
        "/checkout?step=2",
        "google.com",
        "",
        "://x",
        "a b://c",
        "https://",
        // Not plain hosts: the value rules read these whole.
        "https://shop.example;email=jane.doe%40gmail.com",
        "https://jane.doe%40gmail.com",
        "https://shop.example%2Fjane",
        "https://shop.example\u{a0}call +1 415 555 0100",
    ] {
        assert_eq!(origin(not_absolute), None, "{not_absolute}");
    }
}

#[test]
fn every_byte_that_ends_a_url_is_a_delimiter_cue() {
    // `filter_query` trusts the cue pass: no DELIMITER means the value is one word.
    for c in 0..=255u8 {
        if url::ends_url(c) {
            assert!(CUE_CLASS[usize::from(c)] as u16 & DELIMITER != 0, "{c:#x}");
        }
    }
}

#[test]
fn long_dotted_words_are_read_once() {
    // 128 KiB of `a.` after a cue: each dot once re-read the whole word (minutes here).
    let text = format!("see id 1234 {}", "a.".repeat(64 << 10));
    let started = std::time::Instant::now();
    let (mut out, mut tmp, mut report) = (Vec::new(), Vec::new(), Report::default());
    rules().scrub(text.as_bytes(), &mut out, &mut tmp, &mut report);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
}

#[test]
fn value_table() {
    let cases = [
        ("hello world", "hello world"),
        // Allowed parameters keep their values whole, `?` and `#` inside them included.
        (
            "https://ex.com/p?ref=https://a.com/x?y=1",
            "https://ex.com/p?ref=https://a.com/x?y=1",
        ),
        (
            "https://ex.com/p?utm_source=a?uid=42&utm_medium=b",
            "https://ex.com/p?utm_source=a?uid=42&utm_medium=b",
        ),
        (
            "https://ex.com/#utm_source=a#name=bob",
            "https://ex.com/#utm_source=a#name=bob",
        ),
        (
            "see https://ex.com/p?ref=https://a.com/x?y=1 and /a?email=x",
            "see https://ex.com/p?ref=https://a.com/x?y=1 and /a",
        ),
        // Ids and times pass whole, unless their digits could hold a card.
        (
            "38ea376a-3524-4e23-99db-d130931989e3",
            "38ea376a-3524-4e23-99db-d130931989e3",
        ),
        ("2026-11-07T14:03:05.198Z", "2026-11-07T14:03:05.198Z"),
        (
            "2026-11-07T14:03:05.422222222-2222",
            "2026-11-07T14:03:05.[card]",
        ),
        (
            "48176709-8526-2737-b7Ac-E5c5ff5a7eDD",
            "[card]-b7Ac-E5c5ff5a7eDD",
        ),
        ("203.0.113.42", "203.0.113.0"),
        // Leading zeros: refused by the standard parser, read as decimal by others.
        ("203.000.113.042", "203.0.113.0"),
        (
            "from 010.001.002.003:8080, twice",
            "from 10.1.2.0:8080, twice",
        ),
        ("010.0.0.1, 10.0.0.2", "10.0.0.0, 10.0.0.0"),
        ("1.2.3.0400", "1.2.3.0400"),
        ("v1.002.3.4-beta", "v1.002.3.4-beta"),
        // Scoped IPv6: the zone stays, the interface id goes.
        ("fe80::1ff:fe23:4567:890a%eth2", "fe80::%eth2"),
        (
            "link fe80::1ff:fe23:4567:890a%eth2 is up",
            "link fe80::%eth2 is up",
        ),
        ("1.2.3.4%eth0", "1.2.3.4%eth0"),
        (
            "for=203.0.113.42;proto=https",
            "for=203.0.113.0;proto=https",
        ),
        (
            "client_ip=203.0.113.42&x=10.1.2.3",
            "client_ip=203.0.113.0&x=10.1.2.0",
        ),
        ("ip:203.0.113.42", "ip:203.0.113.0"),
        ("x=203.0.113.42:8080", "x=203.0.113.0:8080"),
        ("http://203.0.113.42/admin", "http://203.0.113.0/admin"),
        ("203.0.113.42/32", "203.0.113.0/32"),
        ("a=1.2.3.4.5", "a=1.2.3.4.5"),
        ("build=v1.2.3.4", "build=v1.2.3.4"),
        ("ver=1.2.3.4-rc1", "ver=1.2.3.4-rc1"),
        ("host=a1.2.3.4", "host=a1.2.3.4"),
        ("client_ip=203.0.113.42.", "client_ip=203.0.113.0."),
        // A host name spelling the address (wildcard DNS: `1.2.3.4.nip.io`).
        ("x=1.2.3.4.com", "x=1.2.3.0.com"),
        (
            "see 1.2.3.4.5 and a=10.1.2.3;",
            "see 1.2.3.4.5 and a=10.1.2.0;",
        ),
        ("50%", "50%"),
        ("203.0.113.0", "203.0.113.0"),
        ("198.51.100.251, 10.0.0.228", "198.51.100.0, 10.0.0.0"),
        ("1,2", "1,2"),
        ("cafe, 10.0.0.1", "cafe, 10.0.0.0"),
        ("(2001:db8::1)", "(2001:db8::)"),
        ("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::"),
        (
            "Checkout for Jane Doe (jane.doe@example.com)",
            "Checkout for Jane Doe ([email])",
        ),
        ("a@b.co and c.d@e.org.", "[email] and [email]."),
        ("@handle", "@handle"),
        ("user@localhost", "user@localhost"),
        ("v1.2@3.4", "v1.2@3.4"),
        ("50% off", "50% off"),
        (
            "https://shop.example.com/checkout?email=jane.doe%40example.com&utm_source=newsletter",
            "https://shop.example.com/checkout?utm_source=newsletter",
        ),
        (
            "https://mail.example.com/inbox?user=jane.doe@example.com",
            "https://mail.example.com/inbox",
        ),
        ("https://x.example/p?a=1#frag", "https://x.example/p#frag"),
        (
            "https://x.example/cb#access_token=ya29.a0Af&state=1",
            "https://x.example/cb",
        ),
        (
            "https://x.example/p?utm_source=n#id=1&utm_medium=e",
            "https://x.example/p?utm_source=n#utm_medium=e",
        ),
        (
            "https://x.example/#/reset?token=abc&ref=m",
            "https://x.example/#/reset?ref=m",
        ),
        (
            "https://x.example/docs#pricing",
            "https://x.example/docs#pricing",
        ),
        ("issue #42 fixed", "issue #42 fixed"),
        ("at 37.77,-122.41 today", "at [location] today"),
        ("(48.8566, 2.3522)", "([location])"),
        ("pos=-33.8688,151.2093.", "pos=[location]."),
        ("sizes 3,4.5 and 1.5,2", "sizes 3,4.5 and 1.5,2"),
        ("v1.20.30,1.25 build", "v1.20.30,1.25 build"),
        ("95.12,10.55", "95.12,10.55"),
        (
            "from https://a.example/?utm_source=x to https://b.example/?name=Jane now",
            "from https://a.example/?utm_source=x to https://b.example/ now",
        ),
        (
            "https://x.example/p?utm_medium=e&gclid=1",
            "https://x.example/p?utm_medium=e&gclid=1",
        ),
        (
            "?email=jane.doe%40example.com&utm_source=newsletter&variant=standard",
            "?utm_source=newsletter",
        ),
        ("https://x.example/p", "https://x.example/p"),
        ("/account?name=Jane+Doe", "/account"),
        (
            "www.shop.example/?first_name=Jane&utm_source=a",
            "www.shop.example/?utm_source=a",
        ),
        (
            "see https://x.example/?name=Jane for more",
            "see https://x.example/ for more",
        ),
        ("is it? yes=no", "is it? yes=no"),
        ("jane@müller.de wrote", "[email] wrote"),
        ("jörg@example.com", "[email]"),
        ("mail jane@example.com…", "mail [email]…"),
        ("mailto jane.doe%40example.com", "mailto [email]"),
        ("next=%3Femail%3Djane.doe%2540example.com", "next=[email]"),
        (
            "1 Market St, Apt 4B, San Francisco, CA 94105, USA",
            "[address], San Francisco, CA 94105, USA",
        ),
        ("ship to 806 Market Street today", "ship to [address] today"),
        ("221B Baker St.", "[address]"),
        ("Version 2 Beta", "Version 2 Beta"),
        ("3 Items Left", "3 Items Left"),
        ("rated 5 Stars", "rated 5 Stars"),
        ("+1 415 555 0100", "[phone]"),
        ("call +44 (20) 7946-0958 now", "call [phone] now"),
        ("+49-30-901820", "[phone]"),
        ("score +1", "score +1"),
        ("1+1=2", "1+1=2"),
        ("+12 34", "+12 34"),
        ("4111 1111 1111 1111", "[card]"),
        ("4111111111111111", "[card]"),
        (
            "pay to DE89 3704 0044 0532 0130 00 today",
            "pay to [iban] today",
        ),
        ("GB82WEST12345698765432", "[iban]"),
        ("GB82WEST12345698765433", "GB82WEST12345698765433"),
        ("ssn 123-45-6789", "ssn [ssn]"),
        ("ssn 666-45-6789", "ssn 666-45-6789"),
        ("ref 555-12-3456789", "ref 555-12-3456789"),
        ("tel 555-12-3456789", "tel [phone]"),
        (
            "Authorization: Bearer abcdefghijklmnop1234",
            "Authorization: Bearer [token]",
        ),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x",
            "token [token]",
        ),
        ("Bearer short", "Bearer short"),
        ("123-45-6789", "[ssn]"),
        (
            "seen from 203.0.113.42, twice",
            "seen from 203.0.113.0, twice",
        ),
        (
            "peer 2001:db8:85a3::8a2e:370:7334 said",
            "peer 2001:db8:85a3:: said",
        ),
        ("release 1.2.3.4-beta now", "release 1.2.3.4-beta now"),
        ("tool v1.2.3.4 now", "tool v1.2.3.4 now"),
        (
            "upstream 203.0.113.42:8080 refused",
            "upstream 203.0.113.0:8080 refused",
        ),
        ("203.0.113.42:8080", "203.0.113.0:8080"),
        ("10.1.2.3\n", "10.1.2.0\n"),
        ("\t2001:db8::1", "\t2001:db8::"),
        ("<10.1.2.3>", "<10.1.2.0>"),
        ("'203.0.113.42'", "'203.0.113.0'"),
        ("[2001:db8::1]:443 down", "[2001:db8::]:443 down"),
        ("at 12:30:45 today", "at 12:30:45 today"),
        ("paid with 5500-0000-0000-0004.", "paid with [card]."),
        ("4111 1111 1111 1112", "4111 1111 1111 1112"),
        ("order 1234567890123456", "order 1234567890123456"),
        ("ts 1795342958448", "ts 1795342958448"),
        ("12 apples on Main St", "12 apples on Main St"),
        ("Order 1234 shipped", "Order 1234 shipped"),
    ];
    for (input, want) in cases {
        assert_eq!(scrubbed(input), want, "{input}");
    }
}

#[test]
fn obfuscated_and_full_width_addresses_are_found_and_everyday_at_is_not() {
    for text in [
        "write to m.rossi(at)esempio.it please",
        "k.novak [at] priklad [dot] cz",
        "Kontakt: anna.berg {AT} foretag.se",
        "ola @ eksempel.no",
        "ola@ eksempel.no",
        "tom.h at mailbox dot org",
        "ｔｏｍ．ｈ＠ｍａｉｌｂｏｘ．ｏｒｇ",
        "tom.h﹫mailbox.org",
    ] {
        let out = scrubbed(text);
        assert!(out.contains("[email]"), "{text}: {out}");
        assert!(
            !out.contains("mailbox") && !out.contains("esempio"),
            "{text}: {out}"
        );
    }
    for near_miss in [
        "meet at noon",
        "meet at noon.",
        "we are at booking.com today",
        "Tom (at) home",
        "price @ 5.00 each",
        "follow @example_shop",
        "look at [this] dot here",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        "see you at the café. Bye",
        "ＳＡＬＥ　５０％",
    ] {
        assert_eq!(scrubbed(near_miss), near_miss);
    }
}

#[test]
fn full_width_digits_are_read_as_digits() {
    let out = scrubbed("card ４１１１ １１１１ １１１１ １１１１");
    assert_eq!(out, "card [card]");
}

#[test]
fn urls_lose_their_user_names_and_passwords_and_keep_the_rest() {
    for (text, expected) in [
        (
            "https://jane.doe:hunter2@localhost:3000/account",
            "https://localhost:3000/account",
        ),
        (
            "ftp://jdoe@files.example/report.pdf",
            "ftp://files.example/report.pdf",
        ),
        (
            "see https://a:b@c.example/p and more",
            "see https://c.example/p and more",
        ),
        ("http://x@y@host.example/", "http://host.example/"),
        (
            "https://u:p@[2001:db8::1]:8443/",
            "https://[2001:db8::]:8443/",
        ),
        ("(https://u:p@h.example)", "(https://h.example)"),
        (
            "https://u:p@a.example/ https://v:q@b.example/",
            "https://a.example/ https://b.example/",
        ),
    ] {
        assert_eq!(scrubbed(text), expected, "{text}");
    }
    // An `@` after the authority is no user name.
    for kept in [
        "https://medium.example/@writer/post",
        "https://h.example/a#at@x",
        "a:b@c",
    ] {
        assert_eq!(scrubbed(kept), kept);
    }
}

#[test]
fn ibans_grouped_by_tabs_are_ibans() {
    for text in [
        "AT61\t1904\t3002\t3457\t3201",
        "refund GB82\tWEST\t1234\t5698\t7654\t32 ok",
    ] {
        let out = scrubbed(text);
        assert!(
            out.contains("[iban]") && !out.contains("1904") && !out.contains("WEST"),
            "{out}"
        );
    }
}

/// Shapes written after the work on them, by none of the corpora's generators: a Spanish
/// `C/` street, a Brazilian address with its flat, an e-mail in base64url in a single-page
/// app's route, an entity with a leading zero, a Brazilian mobile, an Irish IBAN.
#[test]
fn shapes_no_generator_wrote_are_caught() {
    let route = "https://app.example/#/r/bWFpbD1hbmEuc291emFAZXhlbXBsby5jb20uYnI";
    for (text, gone) in [
        ("C/ de Alcalá, 45, 3º izq, 28014 Madrid", "Alcalá"),
        ("Rua das Flores 120, apto 31, 01001-000 São Paulo", "Flores"),
        (route, "bWFpbD1hbmEuc291emFAZXhlbXBsby5jb20uYnI"),
        ("ana.souza&#x0040;exemplo.com.br", "souza"),
        ("+55 11 91234-5678", "91234"),
        ("IE29 AIBK 9311 5212 3456 78", "9311"),
    ] {
        let out = scrubbed(text);
        assert!(!out.contains(gone), "{text} -> {out}");
    }
}
