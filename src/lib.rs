//! scrubproxy: a streaming reverse proxy that removes personal data from analytics events.
pub mod scrub;
pub mod decode;
pub mod pipeline;
pub mod vendor;
