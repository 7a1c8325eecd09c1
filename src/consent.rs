//! Consent signals, normalised to one state per purpose. Sans-IO: this module reads the
//! signals' text (header values, cookie values, consent strings, vendor fields); the
//! request's consent comes from `request.rs`, each event's from its vendor's reader, and
//! `scrub::ConsentGate` applies the route's policy.
//!
//! Every signal becomes a [`Consent`]; signals are combined with [`Consent::and`], where
//! the stricter wins: one denial outweighs any grant, and silence outweighs nothing.

mod request;
pub mod signals;
pub mod tcf;
pub mod wire;

pub use request::{from_request, ConsentSignals};
pub use wire::Categories;

/// What one purpose's consent is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    Granted,
    Denied,
    /// No signal said anything about it.
    #[default]
    Unknown,
}

impl State {
    /// Two signals about one purpose: a denial wins, then a grant, then silence.
    pub fn and(self, other: State) -> State {
        use State::*;
        match (self, other) {
            (Denied, _) | (_, Denied) => Denied,
            (Granted, _) | (_, Granted) => Granted,
            (Unknown, Unknown) => Unknown,
        }
    }

    /// A yes/no flag.
    pub fn from_bool(granted: bool) -> State {
        if granted {
            State::Granted
        } else {
            State::Denied
        }
    }
}

/// Consent per purpose: product analytics, and advertising (profiling, sharing, sale).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Consent {
    pub analytics: State,
    pub ads: State,
}

impl Consent {
    /// Both signals at once, the stricter winning per purpose.
    pub fn and(self, other: Consent) -> Consent {
        Consent {
            analytics: self.analytics.and(other.analytics),
            ads: self.ads.and(other.ads),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    #[test]
    fn the_stricter_signal_wins() {
        // Every pair, both ways round.
        let table = [
            (Granted, Granted, Granted),
            (Granted, Unknown, Granted),
            (Granted, Denied, Denied),
            (Unknown, Unknown, Unknown),
            (Unknown, Denied, Denied),
            (Denied, Denied, Denied),
        ];
        for (a, b, want) in table {
            assert_eq!(a.and(b), want, "{a:?} and {b:?}");
            assert_eq!(b.and(a), want, "{b:?} and {a:?}");
        }
        let gpc = Consent {
            analytics: Unknown,
            ads: Denied,
        };
        let banner = Consent {
            analytics: Granted,
            ads: Granted,
        };
        assert_eq!(
            gpc.and(banner),
            Consent {
                analytics: Granted,
                ads: Denied
            }
        );
    }
}
