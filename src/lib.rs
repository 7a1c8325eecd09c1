//! scrubproxy: a streaming reverse proxy that removes personal data from product-analytics
//! events before they reach the vendor.
//!
//! A request goes `listen` → `proxy` (route on one `rules` snapshot) → `pipeline` (`decode`,
//! then the sans-IO `scrub` core with the `vendor`'s plan, then re-encode) → `forward` to the
//! vendor → the vendor's answer relayed (or a `reply` of our own). `admin` and `metrics` sit
//! beside it. Start reading at `scrub`, the core, then `vendor` and `pipeline`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod check;
pub mod client_ip;
pub mod consent;
pub mod decode;
pub mod forward;
pub mod geo;
pub mod listen;
pub mod metrics;
pub mod pipeline;
pub mod proxy;
pub mod refusal;
pub mod reload;
pub mod reply;
pub mod request;
pub mod rules;
pub mod scrub;
pub mod state;
pub mod vendor;
