//! The memory budget: the bytes all requests hold at once (bodies being buffered, bodies
//! that decode only whole, events cut across chunks), counted in one gauge. A request
//! charges what it holds as it grows and gives it back when it ends; past
//! `limits.memory_budget_bytes` new requests, and requests that would grow, get 503 with
//! Retry-After, as past `max_concurrent_requests`.

use prometheus::IntGauge;

/// The budget was spent: the request is answered 503 and retried later.
#[derive(Debug)]
pub struct OverBudget;

/// Whether a new request may start: the budget has room left.
pub fn has_room(gauge: &IntGauge, limit: u64) -> bool {
    (gauge.get().max(0) as u64) < limit
}

/// What one request holds, charged to the shared gauge until it is dropped.
pub struct Held<'a> {
    gauge: &'a IntGauge,
    limit: u64,
    charged: u64,
}

impl<'a> Held<'a> {
    pub fn new(gauge: &'a IntGauge, limit: u64) -> Self {
        Held {
            gauge,
            limit,
            charged: 0,
        }
    }

    /// Sets what the request holds now. Growing past the budget is refused (the charge
    /// stays until the request ends, which it is about to).
    pub fn set(&mut self, bytes: u64) -> Result<(), OverBudget> {
        if bytes <= self.charged {
            self.gauge.sub((self.charged - bytes) as i64);
            self.charged = bytes;
            return Ok(());
        }
        let growth = bytes - self.charged;
        self.gauge.add(growth as i64);
        self.charged = bytes;
        if self.gauge.get().max(0) as u64 > self.limit {
            return Err(OverBudget);
        }
        Ok(())
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.gauge.sub(self.charged as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gives_back_what_it_held_however_it_ends() {
        let gauge = IntGauge::new("held", "held").unwrap();
        {
            let mut held = Held::new(&gauge, 100);
            held.set(60).unwrap();
            held.set(20).unwrap();
            assert_eq!(gauge.get(), 20);
        }
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn growth_past_the_budget_is_refused_and_new_requests_wait() {
        let gauge = IntGauge::new("held", "held").unwrap();
        let mut first = Held::new(&gauge, 100);
        first.set(90).unwrap();
        let mut second = Held::new(&gauge, 100);
        assert!(second.set(20).is_err());
        assert!(!has_room(&gauge, 100));
        drop(second);
        assert!(has_room(&gauge, 100));
        drop(first);
        assert_eq!(gauge.get(), 0);
    }
}
