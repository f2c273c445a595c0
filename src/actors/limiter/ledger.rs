//! The monthly cycle ledger of one account: committed cycles plus
//! reservations of requests in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{MonthlyStatus, Reservation};

/// Cycles used by one account in one calendar month (UTC).
#[derive(Debug)]
pub struct Ledger {
    used: AtomicU64,
}

impl Ledger {
    /// A ledger starting at the stored usage.
    pub fn new(used: u64) -> Self {
        Ledger {
            used: AtomicU64::new(used),
        }
    }

    /// Cycles used or reserved.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Reserves `cycles` if they fit under `limit` (`None` = unlimited);
    /// otherwise returns what is left.
    pub fn reserve(self: &Arc<Self>, cycles: u64, limit: Option<u64>) -> Result<Reservation, u64> {
        let mut current = self.used.load(Ordering::Acquire);
        loop {
            if let Some(limit) = limit {
                if current.saturating_add(cycles) > limit {
                    return Err(limit.saturating_sub(current));
                }
            }
            match self.used.compare_exchange_weak(
                current,
                current + cycles,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let status = MonthlyStatus {
                        limit,
                        used: current + cycles,
                    };
                    return Ok(Reservation::local(self.clone(), cycles, status));
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Gives back cycles of a reservation that did not commit.
    pub(crate) fn release(&self, cycles: u64) {
        self.used.fetch_sub(cycles, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_exactly_and_dropped_ones_return() {
        let ledger = Arc::new(Ledger::new(7));
        let held = ledger.reserve(3, Some(10)).expect("fits exactly");
        assert_eq!(held.status().remaining(), Some(0));
        assert_eq!(ledger.reserve(1, Some(10)).unwrap_err(), 0);
        drop(held);
        assert_eq!(ledger.used(), 7);
        ledger.reserve(2, Some(10)).expect("fits").commit();
        assert_eq!(ledger.used(), 9);
        assert_eq!(
            ledger.reserve(5, Some(10)).unwrap_err(),
            1,
            "a batch that would cross is refused whole"
        );
        assert!(ledger.reserve(1_000_000, None).is_ok());
    }
}
