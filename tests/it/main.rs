//! The integration tests: the real proxy on loopback, fake vendors that record what arrives,
//! and the captured traffic of real SDKs. Files are named after the promises they check.
// Tests read what a fake vendor received as a document: one request's body at a time, and
// the clarity is worth more here than the speed.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod support;

mod adversarial;
mod adversarial_corpus;
mod bounded_work;
mod browser;
mod cli;
mod consent;
mod deploy;
mod detectors;
mod edges;
mod fail_closed;
mod faults;
mod fuzz_corpus;
mod geo;
mod key_rules;
mod no_pii_output;
mod no_silent_loss;
mod operations;
mod properties;
mod reload;
mod review_r22;
mod shadow;
mod streaming;
mod support_selftest;
mod tidy;
mod tls;
mod transparency;
mod vendors;
mod views;
mod workers;
