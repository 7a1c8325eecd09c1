//! Consent signals, normalised to one state per purpose. Sans-IO: this module reads the
//! signals' text (cookies, headers, consent strings) and knows nothing of HTTP.
//!
//! `tcf` decodes IAB TCF v2 consent strings (`euconsent-v2`, `gdpr_consent`).

pub mod tcf;
