//! Latitude/longitude pairs written with hemisphere letters, in decimal degrees
//! (`48.8584 N, 2.2945 E`, `N 48.8584 E 2.2945`, `48.8584° N`) or in degrees, minutes and
//! seconds (`48°51'30.2"N 2°17'40.2"E`, `48° 51′ 30″ N`, `48°51.5'N`). One coordinate alone
//! is not a position: only a latitude and a longitude together are taken.

use super::word_start;

const DEGREE: &[&[u8]] = &["°".as_bytes(), "º".as_bytes()];
const MINUTE: &[&[u8]] = &[b"'", "′".as_bytes(), "’".as_bytes()];
const SECOND: &[&[u8]] = &[b"\"", b"''", "″".as_bytes(), "”".as_bytes()];

#[derive(Clone, Copy, PartialEq)]
enum Axis {
    Latitude,
    Longitude,
}

fn hemisphere(c: u8) -> Option<(Axis, f64)> {
    match c {
        b'N' => Some((Axis::Latitude, 1.0)),
        b'S' => Some((Axis::Latitude, -1.0)),
        b'E' => Some((Axis::Longitude, 1.0)),
        b'W' => Some((Axis::Longitude, -1.0)),
        _ => None,
    }
}

fn mark(t: &[u8], i: usize, marks: &[&[u8]]) -> Option<usize> {
    marks
        .iter()
        .find(|m| t[i.min(t.len())..].starts_with(m))
        .map(|m| i + m.len())
}

/// An unsigned decimal at `i` with at most `max_int` integer digits; its end, value and
/// number of decimal places.
fn number_at(t: &[u8], i: usize, max_int: usize) -> Option<(usize, f64, usize)> {
    let digits = |from: usize| {
        t[from.min(t.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let int = digits(i);
    if int == 0 || int > max_int {
        return None;
    }
    let mut end = i + int;
    let mut places = 0;
    if t.get(end) == Some(&b'.') {
        places = digits(end + 1);
        if places > 0 {
            end += 1 + places;
        }
    }
    let value = std::str::from_utf8(&t[i..end]).ok()?.parse().ok()?;
    Some((end, value, places))
}

fn skip_space(t: &[u8], i: usize) -> usize {
    i + usize::from(t.get(i) == Some(&b' '))
}

/// One coordinate at `i`: a number in decimal degrees or degrees, minutes and seconds, and
/// its hemisphere letter before or after it. Its end, axis and signed value in degrees.
fn coordinate_at(t: &[u8], i: usize) -> Option<(usize, Axis, f64)> {
    let prefix = t.get(i).and_then(|&c| hemisphere(c));
    let start = match prefix {
        Some(_) => skip_space(t, i + 1),
        None => i,
    };
    let (mut end, degrees, places) = number_at(t, start, 3)?;
    let mut value = degrees;
    // Whole degrees alone do not place anyone; minutes or two decimal places do.
    let mut precise = places >= 2;
    if let Some(after) = mark(t, end, DEGREE) {
        end = after;
        if let Some((m_end, minutes, _)) = number_at(t, skip_space(t, end), 2) {
            if let Some(after) = mark(t, m_end, MINUTE) {
                end = after;
                precise = true;
                value += minutes / 60.0;
                if let Some((s_end, seconds, _)) = number_at(t, skip_space(t, end), 2) {
                    if let Some(after) = mark(t, s_end, SECOND) {
                        end = after;
                        value += seconds / 3600.0;
                    }
                }
            }
        }
    }
    if !precise {
        return None;
    }
    let (axis, sign) = match prefix {
        Some(h) => h,
        None => {
            let at = skip_space(t, end);
            let h = hemisphere(*t.get(at)?)?;
            end = at + 1;
            h
        }
    };
    if t.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    let limit = if axis == Axis::Latitude { 90.0 } else { 180.0 };
    (value <= limit).then_some((end, axis, sign * value))
}

/// A latitude and a longitude (either order) joined by a space, a comma or a semicolon.
fn pair_at(t: &[u8], i: usize) -> Option<usize> {
    let (end, first, _) = coordinate_at(t, i)?;
    let mut next = end;
    if matches!(t.get(next), Some(b',' | b';' | b'/')) {
        next += 1;
    }
    next = skip_space(t, next);
    if next == end {
        return None;
    }
    let (end, second, _) = coordinate_at(t, next)?;
    (first != second).then_some(end)
}

/// The next latitude/longitude pair with hemisphere letters from `from`.
pub(super) fn find_hemisphere_pair(t: &[u8], from: usize) -> Option<(usize, usize)> {
    (from..t.len())
        .filter(|&i| (t[i].is_ascii_digit() || hemisphere(t[i]).is_some()) && word_start(t, i))
        .find_map(|i| Some((i, pair_at(t, i)?)))
}

/// Longest stretch between the two numbers of a loose pair (`, `, ` lng=`, `", "lon": `).
const LOOSE_GAP: usize = 24;

/// A signed decimal at `i` standing as a word, with one to three integer digits, `.` or `,`
/// as its decimal mark and three places or more (four with a comma, whose three would be a
/// thousands group): its end, value, mark and places. Versions and addresses
/// (`1.2.3456.7`) are no decimal.
fn loose_decimal_at(t: &[u8], i: usize) -> Option<(usize, f64, u8, usize)> {
    let before_ok =
        i == 0 || !(t[i - 1].is_ascii_alphanumeric() || matches!(t[i - 1], b'.' | b','));
    let signed = matches!(t.get(i), Some(b'-' | b'+'));
    let int_start = i + usize::from(signed);
    let digits = |from: usize| {
        t[from.min(t.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let int = digits(int_start);
    let mark_at = int_start + int;
    let mark = *t.get(mark_at).filter(|c| matches!(c, b'.' | b','))?;
    let places = digits(mark_at + 1);
    let end = mark_at + 1 + places;
    let continues = match t.get(end) {
        Some(&c) if c == b'.' || c == b',' => t.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(c) => c.is_ascii_alphanumeric(),
        None => false,
    };
    if !before_ok || !(1..=3).contains(&int) || places < 3 + usize::from(mark == b',') || continues
    {
        return None;
    }
    let mut text = [0u8; 32];
    let len = (end - i).min(text.len());
    text[..len].copy_from_slice(&t[i..i + len]);
    if mark == b',' {
        text[mark_at - i] = b'.';
    }
    let value = std::str::from_utf8(&text[..len]).ok()?.parse().ok()?;
    Some((end, value, mark, places))
}

/// Whether the stretch between two numbers names an axis (`lng=`, `, "lon": `, `lat `).
fn names_an_axis(gap: &[u8]) -> bool {
    gap.windows(3).any(|w| {
        w.eq_ignore_ascii_case(b"lng")
            || w.eq_ignore_ascii_case(b"lon")
            || w.eq_ignore_ascii_case(b"lat")
    })
}

/// A second coordinate after the first one's `end`: across separators only (`, `, ` `,
/// `; `, ` / `) when both have four places or more, or across a stretch that names an axis
/// (`lat=45.764 lng=4.836`); the same decimal mark, and a latitude and a longitude in range.
fn loose_second(t: &[u8], end: usize, first: f64, mark: u8, places: usize) -> Option<usize> {
    let gap_len = t[end..]
        .iter()
        .take(LOOSE_GAP + 1)
        .take_while(|&&c| !(c.is_ascii_digit() || c == b'-' || c == b'+'))
        .count();
    if gap_len == 0 || gap_len > LOOSE_GAP {
        return None;
    }
    let gap = &t[end..end + gap_len];
    let separators = gap
        .iter()
        .all(|c| matches!(c, b' ' | b'\t' | b',' | b';' | b'/' | b'|'));
    let (second_end, second, second_mark, second_places) = loose_decimal_at(t, end + gap_len)?;
    let precise = places.min(second_places);
    // Two fractions under one (`scores 0.6328 0.5165`) are ratios far more often than a
    // spot in the Gulf of Guinea: spaced pairs need a degree or more on one side.
    let degrees = first.abs() >= 1.0 || second.abs() >= 1.0;
    let joined = (separators && precise >= 4 && degrees) || (names_an_axis(gap) && precise >= 3);
    let in_range = (first.abs() <= 90.0 && second.abs() <= 180.0)
        || (first.abs() <= 180.0 && second.abs() <= 90.0);
    (joined && second_mark == mark && in_range).then_some(second_end)
}

/// Pairs the comma-joined decimals row does not read: separated by spaces with four places
/// or more (`POINT(-3.188267 55.953251)`, longitude first as WKT writes it), with decimal
/// commas (`50,061947 19,936856`), or labelled (`lat=45.764043 lng=4.835659`).
pub(super) fn find_loose_pair(t: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < t.len() {
        let c = t[i];
        if c.is_ascii_digit()
            || ((c == b'-' || c == b'+') && t.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            if let Some((end, first, mark, places)) = loose_decimal_at(t, i) {
                if let Some(second_end) = loose_second(t, end, first, mark, places) {
                    return Some((i, second_end));
                }
                i = end;
                continue;
            }
            i += t[i..]
                .iter()
                .skip(1)
                .take_while(|c| c.is_ascii_digit())
                .count()
                + 1;
            continue;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Option<&str> {
        find_hemisphere_pair(text.as_bytes(), 0).map(|(s, e)| &text[s..e])
    }

    #[test]
    fn hemisphere_pairs_in_every_notation() {
        for (text, want) in [
            ("at 48.8584 N, 2.2945 E today", "48.8584 N, 2.2945 E"),
            ("48.8584N 2.2945E", "48.8584N 2.2945E"),
            ("N 48.8584, E 2.2945", "N 48.8584, E 2.2945"),
            ("33.8688° S, 151.2093° E", "33.8688° S, 151.2093° E"),
            ("48°51'30.2\"N 2°17'40.2\"E", "48°51'30.2\"N 2°17'40.2\"E"),
            ("48° 51′ 30″ N, 2° 17′ 40″ E", "48° 51′ 30″ N, 2° 17′ 40″ E"),
            ("40°26.767'N 79°58.933'W", "40°26.767'N 79°58.933'W"),
        ] {
            assert_eq!(found(text), Some(want), "{text}");
        }
        for near_miss in [
            "48 N, 2 E",
            "size 4.5 N",
            "91.1234 N, 2.2945 E",
            "48.8584 N, 2.2945 N",
            "rated 48° in the shade",
            "Model 3 S, 2 E",
            "v48.85N 2.29E",
        ] {
            assert_eq!(found(near_miss), None, "{near_miss}");
        }
    }

    fn loose(text: &str) -> Option<&str> {
        find_loose_pair(text.as_bytes(), 0).map(|(s, e)| &text[s..e])
    }

    #[test]
    fn loose_pairs_spaced_with_decimal_commas_or_labelled() {
        for (text, want) in [
            ("POINT(-3.188267 55.953251)", "-3.188267 55.953251"),
            ("at 50,061947 19,936856 today", "50,061947 19,936856"),
            ("lat=45.764043 lng=4.835659", "45.764043 lng=4.835659"),
            (
                "{\"lat\": 41.3874, \"lon\": 2.1686}",
                "41.3874, \"lon\": 2.1686",
            ),
            ("pos 59.3293;18.0686", "59.3293;18.0686"),
            ("-33.8688 151.2093", "-33.8688 151.2093"),
            (
                "Latitude 52.520 Longitude 13.405",
                "52.520 Longitude 13.405",
            ),
        ] {
            assert_eq!(loose(text), Some(want), "{text}");
        }
        for near_miss in [
            "Total 52.52 EUR, tax 13.40 EUR",
            "rate 1.0834 USD / 0.9234 EUR",
            "1,234 2,345",
            "v1.2.3456 4.5678",
            "52.5200 13.405",
            "191.1234 95.1234",
            "50,061947 19.936856",
            "build 2024.1105 1230.5512",
            "scores 0.6328 0.5165",
        ] {
            assert_eq!(loose(near_miss), None, "{near_miss}");
        }
    }
}
