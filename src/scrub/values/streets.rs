//! Street addresses written the European and Japanese way: the street type before the name
//! (`Calle Mayor 5`, `Via Roma 10`, `Rua Augusta 120`, `ul. Długa 12/4`), the number before
//! the type (`8 avenue Foch`, `12 rue de la Paix`), a type welded to the name
//! (`Hauptstraße 5`, `Keizersgracht 123`), a name and number followed by a postcode and a
//! city (`Unter den Linden 77, 10117 Berlin`), and Japanese block addresses
//! (`東京都千代田区丸の内1-9-2`, `1-9-2 Marunouchi`). Each shape needs a street word, a
//! postcode or a Japanese place word besides the number, so that prices, versions and
//! product names stay.

use super::word_start;

/// How a street type written before the name behaves.
#[derive(Clone, Copy, PartialEq)]
enum Lead {
    /// A name follows (`Calle Mayor 5`).
    Name,
    /// The type is the whole name (`Gran Vía 28`).
    WholeName,
    /// Also an everyday word (`via`, `Am`, `al.`): the house number must end the address
    /// (end of text, `,`, `;`, `)`, `.`), as it does when written alone.
    Word,
}

/// Street types written before the name (ES, CA, IT, PT, PL, and the German prepositional
/// names `Am Markt 3`, `Unter den Linden 77`).
const TYPE_FIRST: &[(&str, Lead)] = &[
    ("calle", Lead::Name),
    ("c/", Lead::Name),
    ("avenida", Lead::Name),
    ("avda.", Lead::Name),
    ("av.", Lead::Word),
    ("plaza", Lead::Name),
    ("paseo", Lead::Name),
    ("carrer", Lead::Name),
    ("camino", Lead::Name),
    ("ronda", Lead::Word),
    ("travesía", Lead::Name),
    ("rambla", Lead::Name),
    ("gran vía", Lead::WholeName),
    ("vía", Lead::Name),
    ("via", Lead::Word),
    ("viale", Lead::Name),
    ("piazza", Lead::Name),
    ("piazzale", Lead::Name),
    ("corso", Lead::Name),
    ("largo", Lead::Word),
    ("vicolo", Lead::Name),
    ("rua", Lead::Name),
    ("travessa", Lead::Name),
    ("praça", Lead::Name),
    ("alameda", Lead::Name),
    ("estrada", Lead::Name),
    ("ul.", Lead::Name),
    ("ulica", Lead::Name),
    ("al.", Lead::Word),
    ("aleja", Lead::Name),
    ("pl.", Lead::Word),
    ("plac", Lead::Name),
    ("os.", Lead::Word),
    ("osiedle", Lead::Name),
    ("am", Lead::Word),
    ("an der", Lead::Word),
    ("auf der", Lead::Word),
    ("auf dem", Lead::Word),
    ("im", Lead::Word),
    ("in der", Lead::Word),
    ("unter den", Lead::Word),
    ("zum", Lead::Word),
    ("zur", Lead::Word),
    ("hinter der", Lead::Word),
    ("vor dem", Lead::Word),
];

/// French street types, written after the number (`8 avenue Foch`).
const TYPE_AFTER_NUMBER: &[&str] = &[
    "rue",
    "avenue",
    "av.",
    "boulevard",
    "bd",
    "place",
    "allée",
    "chemin",
    "quai",
    "impasse",
    "route",
    "cours",
    "passage",
    "faubourg",
    "square",
    "esplanade",
    "promenade",
    "voie",
];

/// Street types welded to the end of the name (DE, AT, CH, NL) or standing after it.
const WELDED_SUFFIXES: &[&str] = &[
    "straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "damm", "ufer", "chaussee",
    "steig", "graben", "gracht", "straat", "laan", "plein", "kade", "singel", "dijk", "steeg",
];

/// Lower-case words inside street names (`Unter den Linden`, `rue de la Paix`).
const PARTICLES: &[&str] = &[
    "de", "del", "la", "las", "los", "el", "da", "do", "das", "dos", "di", "della", "delle", "dei",
    "degli", "du", "des", "le", "les", "van", "von", "der", "den", "am", "an", "im", "zum", "zur",
    "y", "e", "i", "het", "ten", "ter", "op", "l'", "d'",
];

/// A word from `i`: letters (any script), inner `'`, `-` or `.`-ended abbreviations; its end.
fn word_end(t: &[u8], i: usize) -> usize {
    let mut j = i;
    while let Some(&c) = t.get(j) {
        let letter = c.is_ascii_alphabetic() || c >= 0x80;
        let inner = matches!(c, b'\'' | b'-' | 0xE2) && j > i;
        if letter
            || (inner
                && t.get(j + 1)
                    .is_some_and(|n| n.is_ascii_alphabetic() || *n >= 0x80))
        {
            j += 1;
        } else {
            break;
        }
    }
    j
}

fn is_capitalized(word: &[u8]) -> bool {
    if let Some(&first) = word.first().filter(|c| c.is_ascii()) {
        return first.is_ascii_uppercase();
    }
    std::str::from_utf8(word)
        .ok()
        .and_then(|w| w.chars().next())
        .is_some_and(char::is_uppercase)
}

/// Case is folded for ASCII letters only: the type words start with one.
fn eq_word(word: &[u8], wanted: &str) -> bool {
    word.eq_ignore_ascii_case(wanted.as_bytes())
}

fn is_particle(word: &[u8]) -> bool {
    PARTICLES.iter().any(|p| word == p.as_bytes())
}

/// A house number from `i`: 1 to 4 digits, a letter (`5a`, `221B`), a range or unit
/// (`12/4`, `77-79`), or `bis`/`ter`; its end, if it stands as a word.
fn house_number(t: &[u8], i: usize) -> Option<usize> {
    let digits = t[i.min(t.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if !(1..=4).contains(&digits) || t[i] == b'0' {
        return None;
    }
    let mut end = i + digits;
    if t.get(end).is_some_and(u8::is_ascii_alphabetic)
        && !t.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
    {
        end += 1;
    } else if matches!(t.get(end), Some(b'/' | b'-')) {
        let more = t[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if (1..=4).contains(&more) {
            end += 1 + more;
        }
    }
    for suffix in [&b" bis"[..], b" ter"] {
        if t[end..].starts_with(suffix) && !t.get(end + 4).is_some_and(u8::is_ascii_alphanumeric) {
            end += 4;
        }
    }
    (!t.get(end).is_some_and(u8::is_ascii_alphanumeric)).then_some(end)
}

/// Name words from `i`: capitalized words and particles, the last one capitalized; the end
/// of the last capitalized word and how many there were.
fn name_words(t: &[u8], i: usize, max: usize) -> (usize, usize) {
    let (mut j, mut end, mut names) = (i, i, 0);
    for _ in 0..max {
        let e = word_end(t, j);
        let word = &t[j..e];
        if word.is_empty() {
            break;
        }
        if is_capitalized(word) {
            names += 1;
            end = e;
        } else if !is_particle(word) {
            break;
        }
        if matches!(t.get(e), Some(b' ' | b'\'')) {
            j = e + 1;
        } else {
            break;
        }
    }
    (end, names)
}

/// `Calle Mayor 5`, `Via Roma, 10`, `ul. Długa 12/4`, `Gran Vía 28`, `Am Markt 3`.
fn type_first_at(t: &[u8], i: usize, first_word: &[u8]) -> Option<usize> {
    let rest = &t[i..];
    // Type words are short: a longer word is no type, and costs one comparison.
    let n = first_word.len();
    if n > 9 {
        return None;
    }
    let (kind, lead) = TYPE_FIRST.iter().find(|(k, _)| {
        // The type's first word is the text's first word (`c/` and `ul.` end in their mark).
        let k = k.as_bytes();
        k.len() >= n
            && matches!(k.get(n), None | Some(b' ' | b'.' | b'/'))
            && k[..n].eq_ignore_ascii_case(first_word)
            && rest
                .get(..k.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(k))
    })?;
    let mut j = i + kind.len();
    j += usize::from(t.get(j) == Some(&b' '));
    let capital_type = t[i].is_ascii_uppercase();
    let name_end = if *lead == Lead::WholeName {
        j.checked_sub(1).filter(|_| capital_type)?
    } else {
        let (end, names) = name_words(t, j, 5);
        if names == 0 {
            return None;
        }
        end
    };
    let mut k = name_end;
    if t.get(k) == Some(&b',') {
        k += 1;
    }
    if t.get(k) != Some(&b' ') {
        return None;
    }
    let number_end = house_number(t, k + 1)?;
    // `Im Jahr 2026`: after a type that is an everyday word, a four-digit number is a year.
    let digits = t[k + 1..number_end]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if *lead == Lead::Word && digits > 3 {
        return None;
    }
    // `ul. Marszałkowska 84/92 m. 7`: a flat or door after the number is part of it.
    let end = unit_end(t, number_end);
    // A type that is also an everyday word, or one written in lower case, needs the number
    // (and its flat) to end the address there, or a postcode and city to follow it.
    let ends_here = matches!(
        t.get(end),
        None | Some(b',' | b';' | b')' | b'\n' | b'"' | b'.')
    ) || (t[end..].starts_with(b" ") && postcode_city_at(t, end + 1).is_some());
    let strict = *lead == Lead::Word || !capital_type;
    (!strict || ends_here).then_some(end)
}

/// Words that name a flat, floor or door after a house number (`m. 7`, `lok. 5`, `Whg. 3`,
/// `piso 2`, `bus 4`), lower case as written.
const UNIT_WORDS: &[&str] = &[
    "m.", "m", "lok.", "lok", "apt.", "apt", "app.", "app", "whg.", "bus", "bte", "piso", "puerta",
    "esc.", "int.", "interno", "scala", "porta", "andar", "dpto.", "dpto",
];

/// The end of a flat or door written after a house number that ends at `end` (`, m. 7`,
/// ` lok. 12a`), or `end` itself.
fn unit_end(t: &[u8], end: usize) -> usize {
    let mut j = end;
    if t.get(j) == Some(&b',') {
        j += 1;
    }
    if t.get(j) != Some(&b' ') {
        return end;
    }
    let word_start = j + 1;
    let mut w = word_end(t, word_start);
    if t.get(w) == Some(&b'.') {
        w += 1;
    }
    let word = &t[word_start..w];
    if word.is_empty() || !UNIT_WORDS.iter().any(|u| eq_word(word, u)) || t.get(w) != Some(&b' ') {
        return end;
    }
    let n = t[w + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let has_digit = t[w + 1..w + 1 + n].iter().any(u8::is_ascii_digit);
    if (1..=4).contains(&n) && has_digit {
        w + 1 + n
    } else {
        end
    }
}

/// `8 avenue Foch`, `12 rue de la Paix`, `5 bis, rue Victor Hugo`.
fn number_then_type_at(t: &[u8], i: usize) -> Option<usize> {
    let mut j = house_number(t, i)?;
    if t.get(j) == Some(&b',') {
        j += 1;
    }
    if t.get(j) != Some(&b' ') {
        return None;
    }
    let type_end = word_end(t, j + 1);
    let type_end = type_end + usize::from(t.get(type_end) == Some(&b'.'));
    let kind = &t[j + 1..type_end];
    if !TYPE_AFTER_NUMBER.iter().any(|k| eq_word(kind, k)) || t.get(type_end) != Some(&b' ') {
        return None;
    }
    let (end, names) = name_words(t, type_end + 1, 5);
    (names > 0).then_some(end)
}

/// Whether `word` ends in `suffix` (ASCII case folded) after at least three more bytes.
fn ends_with_type(word: &[u8], suffix: &str) -> bool {
    let s = suffix.as_bytes();
    word.len() >= s.len() + 3 && word[word.len() - s.len()..].eq_ignore_ascii_case(s)
}

/// A word from `i` with a trailing abbreviation dot (`Lindenstr.`); its end.
fn word_with_dot(t: &[u8], i: usize) -> usize {
    let e = word_end(t, i);
    e + usize::from(t.get(e) == Some(&b'.'))
}

/// `Hauptstraße 5`, `Keizersgracht 123`, `Lindenstr. 7`, `Berliner Straße 12`.
fn welded_at(t: &[u8], i: usize) -> Option<usize> {
    let e = word_with_dot(t, i);
    let word = &t[i..e];
    if !is_capitalized(word) {
        return None;
    }
    let mut j = if WELDED_SUFFIXES.iter().any(|s| ends_with_type(word, s)) {
        e
    } else {
        // `Berliner Straße 12`: a name, then the type as its own capitalized word.
        if t.get(e) != Some(&b' ') {
            return None;
        }
        let e2 = word_with_dot(t, e + 1);
        let second = &t[e + 1..e2];
        if !is_capitalized(second) || !WELDED_SUFFIXES.iter().any(|s| eq_word(second, s)) {
            return None;
        }
        e2
    };
    if t.get(j) != Some(&b' ') {
        return None;
    }
    j += 1;
    house_number(t, j)
}

/// Postcodes after a comma: five digits (DE, FR, ES, IT), four (AT, CH, BE, DK), `1234 AB`
/// (NL), `00-950` (PL), `1100-148` (PT); followed by a capitalized city. Their end.
fn postcode_city_at(t: &[u8], i: usize) -> Option<usize> {
    let digits = |from: usize| {
        t[from.min(t.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let first = digits(i);
    let mut j = i + first;
    match first {
        2 if t.get(j) == Some(&b'-') && digits(j + 1) == 3 => j += 4,
        4 if t.get(j) == Some(&b'-') && digits(j + 1) == 3 => j += 4,
        4 if t.get(j) == Some(&b' ')
            && t.get(j + 1..j + 3)
                .is_some_and(|l| l.iter().all(u8::is_ascii_uppercase))
            && t.get(j + 3) == Some(&b' ') =>
        {
            j += 3
        }
        4 | 5 => {}
        _ => return None,
    }
    if t.get(j) != Some(&b' ') {
        return None;
    }
    let city_end = word_end(t, j + 1);
    is_capitalized(&t[j + 1..city_end]).then_some(city_end)
}

/// `Unter den Linden 77, 10117 Berlin`: two name words or more, a house number, a postcode
/// and a city. The street and number are the match; postcode and city stay.
fn name_number_postcode_at(t: &[u8], i: usize) -> Option<usize> {
    let (name_end, names) = name_words(t, i, 5);
    let words = t[i..name_end].split(|c| *c == b' ').count();
    if names == 0 || words < 2 || t.get(name_end) != Some(&b' ') {
        return None;
    }
    let end = house_number(t, name_end + 1)?;
    if !t[end..].starts_with(b", ") {
        return None;
    }
    postcode_city_at(t, end + 2).map(|_| end)
}

/// Japanese ward, city, town, village and district words (区 市 町 村 郡).
const JP_PLACE_WORDS: &[&str] = &["区", "市", "町", "村", "郡"];

/// `東京都千代田区丸の内1-9-2`, `大阪市北区梅田3丁目1番3号`: block numbers written right
/// after Japanese text that names a ward, city, town or village. From that text's start.
fn japanese_block_at(t: &[u8], i: usize) -> Option<(usize, usize)> {
    if i == 0 || t[i - 1] < 0x80 {
        return None;
    }
    let start = i - t[..i]
        .iter()
        .rev()
        .take(90)
        .take_while(|c| **c >= 0x80)
        .count();
    let place = &t[start..i];
    if !JP_PLACE_WORDS
        .iter()
        .any(|w| memchr::memmem::find(place, w.as_bytes()).is_some())
    {
        return None;
    }
    let digits = |from: usize| {
        t[from.min(t.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut j = i;
    let mut parts = 0;
    loop {
        let n = digits(j);
        if n == 0 || n > 4 {
            break;
        }
        j += n;
        parts += 1;
        let joiners: [&[u8]; 6] = [
            b"-",
            "丁目".as_bytes(),
            "番地".as_bytes(),
            "番".as_bytes(),
            "号".as_bytes(),
            "−".as_bytes(),
        ];
        match joiners.iter().find(|s| t[j..].starts_with(s)) {
            Some(s) => j += s.len(),
            None => break,
        }
    }
    while t.get(j - 1) == Some(&b'-') {
        j -= 1;
    }
    (parts >= 2).then_some((start, j))
}

/// Chinese and Korean road words a house number follows: 路 road, 街 street, 道 way,
/// 巷 lane, 弄 alley, 胡同 hutong; 로 and 길 (Korean road names).
const CJK_ROAD_WORDS: &[&str] = &["路", "街", "道", "巷", "弄", "胡同", "로", "길"];

/// Number words that close a Chinese or Korean house number: 号 / 號 (number), 번지, 번길.
const CJK_NUMBER_ENDS: &[&str] = &["号", "號", "번지", "번길", "번"];

/// `北京市朝阳区建国路88号`, `台北市信義路五段7號` (digits only), `세종대로 110`,
/// `테헤란로 152`: a road word, perhaps a space, a number of one to four digits (or two
/// joined by `-`), and for Chinese the 号 that closes it. From the road text's start.
fn cjk_road_at(t: &[u8], i: usize) -> Option<(usize, usize)> {
    let before = t[..i].strip_suffix(b" ").unwrap_or(&t[..i]);
    let road = CJK_ROAD_WORDS
        .iter()
        .find(|w| before.ends_with(w.as_bytes()))?;
    let korean = road
        .chars()
        .next()
        .is_some_and(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c));
    if before.len() < i && !korean {
        return None;
    }
    let start = before.len()
        - before
            .iter()
            .rev()
            .take(90)
            .take_while(|c| **c >= 0x80)
            .count();
    // The road needs a name before its word: `路88号` alone is no address.
    if before.len() - start <= road.len() {
        return None;
    }
    let digits = |from: usize| {
        t[from.min(t.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let n = digits(i);
    if !(1..=4).contains(&n) {
        return None;
    }
    let mut end = i + n;
    if t.get(end) == Some(&b'-') && (1..=4).contains(&digits(end + 1)) {
        end += 1 + digits(end + 1);
    }
    match CJK_NUMBER_ENDS
        .iter()
        .find(|w| t[end..].starts_with(w.as_bytes()))
    {
        Some(w) => Some((start, end + w.len())),
        None if korean && !t.get(end).is_some_and(u8::is_ascii_alphanumeric) => Some((start, end)),
        None => None,
    }
}

/// Whether `word` reads as romanized Japanese (`Marunouchi`, `Shibuya`, `Roppongi`):
/// syllables of an optional consonant and a vowel, or `n`.
fn is_romaji(word: &[u8]) -> bool {
    const ONSETS: &[&[u8]] = &[
        b"ky", b"sh", b"ch", b"ts", b"ny", b"hy", b"my", b"ry", b"gy", b"by", b"py", b"j", b"k",
        b"s", b"t", b"n", b"h", b"m", b"y", b"r", b"w", b"g", b"z", b"d", b"b", b"p", b"f",
    ];
    // `Nishi-Shinjuku`: the parts of a compound name are read as one.
    let lower: Vec<u8> = word
        .iter()
        .filter(|c| **c != b'-')
        .map(u8::to_ascii_lowercase)
        .collect();
    let is_vowel = |c: u8| b"aeiou".contains(&c);
    let (mut i, mut syllables) = (0, 0);
    while i < lower.len() {
        let rest = &lower[i..];
        if is_vowel(rest[0]) {
            i += 1;
            syllables += 1;
        } else if (rest[0] == b'n' && !rest.get(1).is_some_and(|c| is_vowel(*c) || *c == b'y'))
            || (rest.len() > 1 && rest[0] == rest[1] && b"kstp".contains(&rest[0]))
        {
            // A syllabic `n`, or the first of a doubled consonant (`Roppongi`).
            i += 1;
        } else {
            let onset = ONSETS
                .iter()
                .find(|o| rest.starts_with(o) && rest.get(o.len()).is_some_and(|c| is_vowel(*c)));
            match onset {
                Some(onset) => i += onset.len() + 1,
                None => return false,
            }
            syllables += 1;
        }
    }
    syllables >= 2 && lower.len() >= 4
}

/// `1-9-2 Marunouchi`, `3-2-1 Roppongi, Minato-ku`: chome, block and house, then a
/// romanized Japanese place name.
fn romaji_block_at(t: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..3 {
        let n = t[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=3).contains(&n) {
            return None;
        }
        j += n;
        if part < 2 {
            if t.get(j) != Some(&b'-') {
                return None;
            }
            j += 1;
        }
    }
    if t.get(j) != Some(&b' ') {
        return None;
    }
    let end = word_end(t, j + 1);
    let word = &t[j + 1..end];
    (is_capitalized(word) && is_romaji(word)).then_some(end)
}

/// The street detectors' gate: a run of one to four digits that can be a house number (a
/// word of its own after a space, comma or bracket, perhaps with a letter, `/` or `-` after
/// it, or right after Japanese text). Ids, prices, times and phone numbers joined to other
/// digits do not open the scanner.
pub(super) fn may_hold_house_number(t: &[u8]) -> bool {
    let mut i = 0;
    while i < t.len() {
        if !t[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let run = t[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let before = if i == 0 { b' ' } else { t[i - 1] };
        let opens = matches!(before, b' ' | b',' | b'(') || before >= 0x80;
        let after = t.get(i + run).copied();
        let closes = match after {
            Some(c) if c.is_ascii_alphabetic() => {
                !t.get(i + run + 1).is_some_and(u8::is_ascii_alphanumeric)
            }
            Some(c) => !c.is_ascii_digit(),
            None => true,
        };
        if run <= 4 && opens && closes {
            return true;
        }
        i += run;
    }
    false
}

/// Whether a letter at `i` begins a word: the byte before is no letter or digit of any
/// script.
fn letter_word_start(t: &[u8], i: usize) -> bool {
    i == 0 || !(t[i - 1].is_ascii_alphanumeric() || t[i - 1] >= 0x80)
}

/// The next street address abroad from `from`.
pub(super) fn find_street_abroad(t: &[u8], from: usize) -> Option<(usize, usize)> {
    // `, 10117 Berlin`: only then can a name and number without a type be an address.
    let postcode =
        memchr::memmem::find_iter(t, b", ").any(|k| t.get(k + 2).is_some_and(u8::is_ascii_digit));
    let mut i = from;
    while i < t.len() {
        let c = t[i];
        if c.is_ascii_digit() {
            if let Some((start, end)) = japanese_block_at(t, i).or_else(|| cjk_road_at(t, i)) {
                return Some((start.max(from), end));
            }
            if word_start(t, i) {
                if let Some(end) = romaji_block_at(t, i).or_else(|| number_then_type_at(t, i)) {
                    return Some((i, end));
                }
            }
            i += t[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        } else if (c.is_ascii_alphabetic() || c >= 0xC0) && letter_word_start(t, i) {
            let word = &t[i..word_end(t, i)];
            let found = type_first_at(t, i, word)
                .or_else(|| welded_at(t, i))
                .or_else(|| postcode.then(|| name_number_postcode_at(t, i)).flatten());
            if let Some(end) = found {
                return Some((i, end));
            }
            i = word_end(t, i).max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        let mut from = 0;
        while let Some((s, e)) = find_street_abroad(text.as_bytes(), from) {
            spans.push(&text[s..e]);
            from = e;
        }
        spans
    }

    #[test]
    fn street_shapes_of_each_country() {
        for (text, want) in [
            ("Gran Vía 28", "Gran Vía 28"),
            ("envío a Calle Mayor 5, 28013 Madrid", "Calle Mayor 5"),
            ("C/ Alcalá 42", "C/ Alcalá 42"),
            ("Unter den Linden 77, 10117 Berlin", "Unter den Linden 77"),
            ("Lieferung Hauptstraße 5a heute", "Hauptstraße 5a"),
            ("Berliner Straße 12", "Berliner Straße 12"),
            ("Lindenstr. 7", "Lindenstr. 7"),
            ("8 avenue Foch", "8 avenue Foch"),
            (
                "livré au 12 rue de la Paix, 75002 Paris",
                "12 rue de la Paix",
            ),
            ("Via Roma 10", "Via Roma 10"),
            ("via Roma 10, 00184 Roma", "via Roma 10"),
            ("Keizersgracht 123", "Keizersgracht 123"),
            ("Rua Augusta 120", "Rua Augusta 120"),
            ("ul. Długa 12/4", "ul. Długa 12/4"),
            ("東京都千代田区丸の内1-9-2", "東京都千代田区丸の内1-9-2"),
            ("大阪市北区梅田3丁目1番3号", "大阪市北区梅田3丁目1番3号"),
            ("1-9-2 Marunouchi, Tokyo", "1-9-2 Marunouchi"),
            (
                "odbiór: ul. Piękna 17 lok. 3, 00-549 Warszawa",
                "ul. Piękna 17 lok. 3",
            ),
            ("ul. Grodzka 5, 31-006 Kraków", "ul. Grodzka 5"),
            ("calle Serrano 41 piso 4", "calle Serrano 41 piso 4"),
            ("上海市徐汇区淮海中路1234号", "上海市徐汇区淮海中路1234号"),
            (
                "送至 广州市天河区体育西路103号",
                "广州市天河区体育西路103号",
            ),
            ("서울특별시 강남구 테헤란로 152", "테헤란로 152"),
        ] {
            assert_eq!(found(text), vec![want], "{text}");
        }
        for near_miss in [
            "sent via Slack 2 days ago",
            "Spring 2026 collection",
            "iPhone 15 Pro Max",
            "Version 2, 12345 Downloads",
            "4-4-2 Formation",
            "Chapter 3 Summary",
            "Route 66",
            "2 place finish",
            "Playstation 5",
            "東京都の天気 2026-11-23",
            "Windows 11",
            "Plan Pro 12",
            "ul. Nowa 12 m. wiele",
            "路88号",
            "第3号",
            "街 12",
            "型号 2026",
        ] {
            assert!(
                found(near_miss).is_empty(),
                "{near_miss}: {:?}",
                found(near_miss)
            );
        }
    }
}
