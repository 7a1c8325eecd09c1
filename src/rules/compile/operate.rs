//! The operator's side of the rules: the admin token, the log format, and the refusal of
//! secrets nobody should run with (the examples' placeholders, short or patterned keys).

use sha2::{Digest, Sha256};

use super::Errors;
use crate::rules::file::{AdminFile, LogFile};

/// Environment variable holding the admin token (checked after `admin.token_file`).
pub const ADMIN_TOKEN_ENV: &str = "SCRUBPROXY_ADMIN_TOKEN";

/// Smallest admin token accepted, as for the HMAC key.
const MIN_TOKEN_BYTES: usize = 16;

/// The bearer token the admin endpoints that reveal or change settings ask for. Only its
/// SHA-256 is kept: comparing digests takes the same time whatever the guess, its length
/// included, and the token itself is never in memory after the load.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    fn new(token: &[u8]) -> Self {
        AdminToken(Sha256::digest(token).into())
    }

    /// Whether `given` is the token, in time independent of where they differ.
    pub fn matches(&self, given: &[u8]) -> bool {
        let given: [u8; 32] = Sha256::digest(given).into();
        let differ = self
            .0
            .iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        differ == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// How the proxy writes its own log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of `key=value` text per event (colour only on a terminal).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

pub(super) fn log_format(log: &LogFile, errors: &mut Errors) -> LogFormat {
    match log.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        _ => {
            errors.push("log.format", "must be \"text\" or \"json\"");
            LogFormat::Text
        }
    }
}

/// The admin token from `admin.token_file`, else `SCRUBPROXY_ADMIN_TOKEN`; `None` when
/// neither is set (the admin endpoints then answer loopback peers only).
pub(super) fn admin_token(
    admin: &AdminFile,
    env: &dyn crate::rules::Environment,
    errors: &mut Errors,
) -> Option<AdminToken> {
    let (token, at) = if let Some(path) = &admin.token_file {
        match std::fs::read(path) {
            Ok(bytes) => (bytes, "admin.token_file"),
            Err(e) => {
                errors.push(
                    "admin.token_file",
                    format!("cannot read the token file: {}", e.kind()),
                );
                return None;
            }
        }
    } else {
        let value = env.var(ADMIN_TOKEN_ENV)?;
        (value.into_bytes(), ADMIN_TOKEN_ENV)
    };
    let token = token.trim_ascii();
    if token.len() < MIN_TOKEN_BYTES {
        errors.push(
            at,
            format!("the token must be at least {MIN_TOKEN_BYTES} bytes"),
        );
    } else if let Some(weakness) = weak_secret(token) {
        errors.push(at, format!("the token {weakness}"));
    }
    // A header value cannot carry control bytes or spaces inside: such a token could never
    // be presented.
    if token.iter().any(|b| !b.is_ascii_graphic()) {
        errors.push(at, "the token must be printable ASCII without spaces");
    }
    Some(AdminToken::new(token))
}

/// Words the examples and common templates put where a secret goes.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "replaceme",
    "replace-me",
    "replace_me",
    "placeholder",
    "not-secret",
    "notsecret",
    "example",
    "your-key",
    "yourkey",
    "your_key",
    "insert-",
    "dummy",
    "password",
];

/// Fewest distinct bytes a secret must have: random text of 16 bytes or more has many
/// more (32 random hex digits hold about 15), a typed pattern few.
const MIN_DISTINCT_BYTES: usize = 8;

/// Why `secret` must not be used (a placeholder, a repeated or counting pattern, too few
/// distinct bytes), or `None`. Says what it is, never what it holds.
pub fn weak_secret(secret: &[u8]) -> Option<&'static str> {
    let lower = secret.to_ascii_lowercase();
    if PLACEHOLDERS
        .iter()
        .any(|word| memchr::memmem::find(&lower, word.as_bytes()).is_some())
    {
        return Some("is a placeholder (it holds a word such as CHANGE-ME or example): generate a random one");
    }
    if is_repetition(&lower) {
        return Some("repeats a short pattern: generate a random one");
    }
    let mut seen = [false; 256];
    for &b in &lower {
        seen[usize::from(b)] = true;
    }
    if seen.iter().filter(|&&s| s).count() < MIN_DISTINCT_BYTES {
        return Some("has too few distinct characters to be random: generate a random one");
    }
    if counts_up_or_down(&lower) {
        return Some("is mostly a counting sequence: generate a random one");
    }
    None
}

/// `abcabcabc`, `aaaa`, `12121212`: the secret is one short unit written again and again
/// (the last copy may be cut).
fn is_repetition(secret: &[u8]) -> bool {
    (1..=secret.len() / 2).any(|unit| {
        secret
            .iter()
            .zip(secret.iter().skip(unit))
            .all(|(a, b)| a == b)
    })
}

/// `0123456789abcdef`, `zyxwv...`: at least half of the neighbouring bytes step by one.
fn counts_up_or_down(secret: &[u8]) -> bool {
    let steps = secret
        .windows(2)
        .filter(|w| w[1].wrapping_sub(w[0]) == 1 || w[0].wrapping_sub(w[1]) == 1)
        .count();
    steps * 2 >= secret.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_patterns_are_weak_and_random_keys_are_not() {
        for weak in [
            "CHANGE-ME-placeholder-hmac-key-not-secret",
            "changeme-changeme-1234",
            "my-example-key-for-staging-use",
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            "abcabcabcabcabcabcabcabc",
            "1212121212121212",
            "0123456789abcdefghij",
            "zyxwvutsrqponmlkjihgfedc",
            "1111222211112222",
            "passwordpassword1",
        ] {
            assert!(weak_secret(weak.as_bytes()).is_some(), "{weak}");
        }
        for strong in [
            "Jd3kQ9vLx2PzR7tYbW4nM8cF",
            "5f1c9a4e7b2d80c36e9f1a4b7c2d5e80",
            "kR8v+2mQ/xZ1pL9sT4wY7bN3cF6hJ0dG5aE8uI2oK1c=",
            "deploy-test-hmac-key-0123456789",
            "an opt-out test key of some length",
        ] {
            assert_eq!(weak_secret(strong.as_bytes()), None, "{strong}");
        }
    }

    /// A key drawn at random (hex of 16 bytes from a seeded generator) is never called weak:
    /// the checks must not refuse what `head -c 16 /dev/urandom | xxd -p` gives.
    #[test]
    fn random_hex_keys_pass() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let key: String = (0..16)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    format!("{:02x}", state as u8)
                })
                .collect();
            assert_eq!(weak_secret(key.as_bytes()), None, "{key}");
        }
    }

    #[test]
    fn the_token_matches_only_itself() {
        let token = AdminToken::new(b"a-long-random-admin-token-x9");
        assert!(token.matches(b"a-long-random-admin-token-x9"));
        assert!(!token.matches(b"a-long-random-admin-token-x8"));
        assert!(!token.matches(b""));
        assert!(!format!("{token:?}").contains("random"));
    }
}
