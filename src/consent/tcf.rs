//! IAB TCF v2 consent strings: the core segment's purpose consents, legitimate interests
//! and vendor consents, read bit by bit as the IAB's "Consent string and vendor list
//! formats v2" specifies. Other segments (disclosed vendors, publisher TC) are ignored;
//! an unreadable string is an error, never a guess.

use base64::Engine;

/// What the core segment says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcfConsent {
    pub cmp_id: u16,
    pub vendor_list_version: u16,
    /// Purposes 1-24 the user consented to: bit `n - 1` is purpose `n`.
    pub purpose_consents: u32,
    /// Purposes 1-24 with a legitimate interest established (and not objected to).
    pub purpose_legitimate_interests: u32,
    /// Vendor ids the user consented to, ascending.
    pub vendor_consents: Vec<u16>,
    /// Vendor ids with a legitimate interest established, ascending.
    pub vendor_legitimate_interests: Vec<u16>,
}

impl TcfConsent {
    /// Whether purpose `n` (1-based, as the IAB numbers them) has the user's consent.
    pub fn purpose(&self, n: u8) -> bool {
        (1..=24).contains(&n) && self.purpose_consents & (1 << (n - 1)) != 0
    }

    /// Whether vendor `id` (its Global Vendor List id) has the user's consent.
    pub fn vendor(&self, id: u16) -> bool {
        self.vendor_consents.binary_search(&id).is_ok()
    }
}

/// Why a consent string was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TcfError {
    #[error("the consent string is not base64url")]
    NotBase64,
    #[error("the consent string is not TCF version 2")]
    NotVersion2,
    #[error("the consent string ends before its core segment does")]
    Truncated,
    #[error("the consent string names an impossible vendor range")]
    BadRange,
}

/// Longest string decoded: real ones are a few hundred bytes; this bounds the work.
const MAX_LEN: usize = 8192;

/// Decodes the core segment of a TCF v2 string (the part before the first `.`).
pub fn decode(tc_string: &str) -> Result<TcfConsent, TcfError> {
    let core = tc_string.split('.').next().unwrap_or_default().trim();
    if core.is_empty() || core.len() > MAX_LEN {
        return Err(TcfError::NotBase64);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(core.trim_end_matches('='))
        .map_err(|_| TcfError::NotBase64)?;
    let mut bits = Bits::new(&bytes);
    if bits.read(6)? != 2 {
        return Err(TcfError::NotVersion2);
    }
    // Created, LastUpdated (36 bits each).
    bits.skip(72)?;
    let cmp_id = bits.read(12)? as u16;
    // CmpVersion 12, ConsentScreen 6, ConsentLanguage 12.
    bits.skip(30)?;
    let vendor_list_version = bits.read(12)? as u16;
    // TcfPolicyVersion 6, IsServiceSpecific 1, UseNonStandardTexts 1, SpecialFeatureOptIns 12.
    bits.skip(20)?;
    let purpose_consents = purposes(&mut bits)?;
    let purpose_legitimate_interests = purposes(&mut bits)?;
    // PurposeOneTreatment 1, PublisherCC 12.
    bits.skip(13)?;
    let vendor_consents = vendor_section(&mut bits)?;
    let vendor_legitimate_interests = vendor_section(&mut bits)?;
    Ok(TcfConsent {
        cmp_id,
        vendor_list_version,
        purpose_consents,
        purpose_legitimate_interests,
        vendor_consents,
        vendor_legitimate_interests,
    })
}

/// 24 purpose bits, purpose 1 first on the wire, as a mask with purpose `n` at bit `n - 1`.
fn purposes(bits: &mut Bits<'_>) -> Result<u32, TcfError> {
    let mut mask = 0;
    for n in 0..24 {
        if bits.read(1)? == 1 {
            mask |= 1 << n;
        }
    }
    Ok(mask)
}

/// A vendor section: MaxVendorId, then a bit field or a list of ids and ranges.
fn vendor_section(bits: &mut Bits<'_>) -> Result<Vec<u16>, TcfError> {
    let max_vendor_id = bits.read(16)? as u16;
    let mut ids = Vec::new();
    if bits.read(1)? == 0 {
        for id in 1..=max_vendor_id {
            if bits.read(1)? == 1 {
                ids.push(id);
            }
        }
        return Ok(ids);
    }
    let entries = bits.read(12)?;
    let mut ranges = Vec::with_capacity(entries as usize);
    for _ in 0..entries {
        let is_range = bits.read(1)? == 1;
        let start = bits.read(16)? as u16;
        let end = if is_range {
            bits.read(16)? as u16
        } else {
            start
        };
        if start == 0 || end < start || end > max_vendor_id {
            return Err(TcfError::BadRange);
        }
        ranges.push((start, end));
    }
    // Merged before they are expanded: overlapping ranges cannot multiply the work.
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    Ok(merged.into_iter().flat_map(|(s, e)| s..=e).collect())
}

/// A big-endian bit reader.
struct Bits<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Bits { bytes, pos: 0 }
    }

    /// The next `n` bits (at most 36) as a number.
    fn read(&mut self, n: usize) -> Result<u64, TcfError> {
        if self.pos + n > self.bytes.len() * 8 {
            return Err(TcfError::Truncated);
        }
        let mut value = 0u64;
        for _ in 0..n {
            let bit = (self.bytes[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            value = (value << 1) | u64::from(bit);
            self.pos += 1;
        }
        Ok(value)
    }

    fn skip(&mut self, n: usize) -> Result<(), TcfError> {
        if self.pos + n > self.bytes.len() * 8 {
            return Err(TcfError::Truncated);
        }
        self.pos += n;
        Ok(())
    }
}

/// The tests' TCF encoder, shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/it/support/tcf_encoder.rs"]
mod tcf_encoder;

#[cfg(test)]
mod tests {
    use super::*;

    use super::tcf_encoder::{encode, Vendors, Writer};

    #[test]
    fn purposes_and_vendors_decode_as_encoded() {
        let tc = encode(
            &[1, 3, 4, 24],
            &[2, 7, 10],
            Vendors::Field(12, &[2, 6, 8, 12]),
            Vendors::Ranges(800, &[(755, 760), (1, 1), (758, 762)]),
        );
        let got = decode(&tc).unwrap();
        assert_eq!((got.cmp_id, got.vendor_list_version), (300, 150));
        for n in 1..=24 {
            assert_eq!(got.purpose(n), [1, 3, 4, 24].contains(&n), "purpose {n}");
        }
        assert!(!got.purpose(0) && !got.purpose(25));
        assert_eq!(got.purpose_legitimate_interests, 1 << 1 | 1 << 6 | 1 << 9);
        assert_eq!(got.vendor_consents, vec![2, 6, 8, 12]);
        let mut interests = vec![1];
        interests.extend(755..=762);
        assert_eq!(
            got.vendor_legitimate_interests, interests,
            "overlaps merged"
        );
        assert!(got.vendor(8) && !got.vendor(7));
        // Later segments (after a `.`) do not change the core's reading.
        assert_eq!(decode(&format!("{tc}.YAAAAAAAAAAA")).unwrap(), got);
    }

    #[test]
    fn purposes_map_to_analytics_and_ads() {
        use crate::consent::{signals, Consent, State};
        let read = |purposes: &[u8]| {
            let tc = encode(
                purposes,
                &[],
                Vendors::Field(0, &[]),
                Vendors::Field(0, &[]),
            );
            signals::tcf(&decode(&tc).unwrap())
        };
        let consent = |analytics, ads| Consent { analytics, ads };
        assert_eq!(read(&[1, 8]), consent(State::Granted, State::Denied));
        assert_eq!(read(&[1, 3, 4]), consent(State::Denied, State::Granted));
        assert_eq!(
            read(&[8, 3, 4]),
            consent(State::Denied, State::Denied),
            "no storage"
        );
        assert_eq!(read(&[1, 3, 4, 8]), consent(State::Granted, State::Granted));
    }

    #[test]
    fn broken_strings_are_errors_not_guesses() {
        let tc = encode(&[1], &[], Vendors::Field(3, &[1]), Vendors::Field(0, &[]));
        assert_eq!(decode(&tc[..20]), Err(TcfError::Truncated));
        assert_eq!(decode("not base64!"), Err(TcfError::NotBase64));
        assert_eq!(decode(""), Err(TcfError::NotBase64));
        // Version 1 strings (`BO...`) are refused.
        let mut w = Writer::default();
        w.put(1, 6);
        for _ in 0..25 {
            w.put(0, 8);
        }
        assert_eq!(decode(&w.finish()), Err(TcfError::NotVersion2));
        let bad_range = encode(
            &[],
            &[],
            Vendors::Ranges(10, &[(5, 11)]),
            Vendors::Field(0, &[]),
        );
        assert_eq!(decode(&bad_range), Err(TcfError::BadRange));
    }
}
