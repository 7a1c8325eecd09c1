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
}
