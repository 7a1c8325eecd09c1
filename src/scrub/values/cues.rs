//! The one pass over a value that says which text detectors can match at all: a byte-class
//! table (cue bits, digit and capital counts), one lookup a byte.

/// What a value contains that some text detector starts from: which cue bytes occur, and
/// how many digits and capitals.
pub(super) struct Cues {
    seen: u16,
    pub digits: usize,
    pub capitals: usize,
}

// Cue classes, one bit each in `CUE_CLASS`.
/// `@` or `%` (an e-mail address, plain or in a URL).
pub(super) const AT: u16 = 1 << 0;
/// `+` (an international phone number).
pub(super) const PLUS: u16 = 1 << 1;
pub(super) const SPACE: u16 = 1 << 2;
/// Whitespace or punctuation that can stand around a word (`,;()[]<>"'`): every byte that
/// ends an address written in text.
pub(super) const DELIMITER: u16 = 1 << 3;
/// `?` or `#` (a query string or a fragment that may carry parameters).
pub(super) const QUESTION: u16 = 1 << 4;
pub(super) const DOT: u16 = 1 << 5;
pub(super) const COLON: u16 = 1 << 6;
pub(super) const COMMA: u16 = 1 << 7;
pub(super) const DASH: u16 = 1 << 8;
/// `J`: a JWT starts `eyJ`.
pub(super) const JWT_LETTER: u16 = 1 << 9;
/// `r`: with a space, what `Bearer <token>` needs.
pub(super) const BEARER_LETTER: u16 = 1 << 10;
/// The lead byte of a character beyond ASCII (`°`, `ß`, CJK): Japanese addresses and
/// degree signs.
pub(super) const HIGH: u16 = 1 << 11;
/// `&`: an HTML character reference may follow (`&#64;`).
pub(super) const AMP: u16 = 1 << 12;
/// The lead byte of U+F000-U+FFFF, where full-width and small forms live (`＠`, `．`,
/// `﹫`): text a compatibility fold may turn into an address (`views.rs`).
pub(super) const COMPAT: u16 = 1 << 13;
/// `(`, `[`, `{`, `<`: an obfuscated address may spell its `@` in them (`(at)`, `[dot]`).
pub(super) const BRACKET: u16 = 1 << 14;
/// Counted, not flagged: a class above bit 16 is added up, digits in 24 bits of the sum and
/// capitals in the 24 above them.
const DIGIT: u64 = 1 << 16;
const CAPITAL: u64 = 1 << 40;
const COUNT_MASK: u64 = (1 << 24) - 1;

/// The cue class of every byte.
pub(super) static CUE_CLASS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let flags = match b {
            b'@' | b'%' => AT,
            b'+' => PLUS,
            b' ' => SPACE | DELIMITER,
            b'\t' | b'\n' | b'\r' | 0x0c => DELIMITER,
            b',' => DELIMITER | COMMA,
            b'(' | b'[' | b'<' => DELIMITER | BRACKET,
            b'{' => BRACKET,
            b')' | b';' | b']' | b'>' | b'"' | b'\'' => DELIMITER,
            b'?' | b'#' => QUESTION,
            b'.' => DOT,
            b':' => COLON,
            b'-' => DASH,
            b'J' => JWT_LETTER,
            b'r' => BEARER_LETTER,
            b'&' => AMP,
            0xEF => HIGH | COMPAT,
            0xC2..=0xF4 => HIGH,
            _ => 0,
        };
        let counted = if b.is_ascii_digit() {
            DIGIT
        } else if b.is_ascii_uppercase() {
            CAPITAL
        } else {
            0
        };
        table[c] = flags as u64 | counted;
        c += 1;
    }
    table
};

impl Cues {
    /// One table lookup per byte; no per-value set-up, which matters on short values.
    #[inline]
    pub fn of(text: &[u8]) -> Cues {
        let (mut seen, mut digits, mut capitals) = (0u64, 0usize, 0usize);
        // Pieces short enough that neither 24-bit count can overflow.
        for piece in text.chunks(COUNT_MASK as usize) {
            let mut counts = 0u64;
            for &c in piece {
                let class = CUE_CLASS[usize::from(c)];
                seen |= class;
                counts += class >> 16;
            }
            digits += (counts & COUNT_MASK) as usize;
            capitals += (counts >> 24) as usize;
        }
        Cues {
            seen: seen as u16,
            digits,
            capitals,
        }
    }

    pub fn has(&self, cue: u16) -> bool {
        self.seen & cue != 0
    }

    pub fn has_all(&self, cues: u16) -> bool {
        self.seen & cues == cues
    }

    /// Whether the value may carry text in another encoding (`views.rs`): a `%`, `+` or
    /// `&`, or the capitals of base64 (the base64 of `a@b.co` has four).
    pub fn may_carry_encoding(&self, len: usize) -> bool {
        len >= 6 && (self.has(AT | PLUS | AMP | COMPAT) || self.capitals >= 4)
    }

    pub fn can_hold_token(&self) -> bool {
        self.has(JWT_LETTER) || (self.has(BEARER_LETTER) && self.has(SPACE))
    }

    /// Whether any detector can match a value of `len` bytes with these cues.
    pub fn any(&self, len: usize) -> bool {
        self.has(AT | PLUS | QUESTION | BRACKET)
            || (self.has(DELIMITER | HIGH) && self.digits > 0)
            || self.digits >= 9
            || (self.digits >= 7 && self.capitals >= 1)
            || (len >= 20 && self.can_hold_token())
    }
}
