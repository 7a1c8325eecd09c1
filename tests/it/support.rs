//! Integration-test support: real-client fixtures, a fake analytics vendor, a replay client and
//! planted-PII detection.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod fake_vendor;
pub mod fixture;
pub mod planted;

pub use client::{send, send_chunks, send_head_only, send_raw, try_send, try_send_raw, Response};
pub use fake_vendor::{Behavior, FakeVendor, Recorded};
pub use fixture::{load, Fixture};
pub use planted::{planted_in, planted_in_text};
pub mod logs;
pub mod proxy;

pub use proxy::{
    start_consented_proxy, start_proxy, start_proxy_from_file, without_vendor_limits, TestProxy,
};
pub mod mmdb_writer;
pub mod tcf_encoder;
