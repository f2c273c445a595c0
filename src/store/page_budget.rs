//! The byte budget of one history or drift page, and the size estimates
//! that let a backend measure an item without serialising it (both
//! backends stop a page at the same item).

/// An upper bound of a history item's JSON (`ObservationBody`, the comma
/// before it included) apart from its context: every field at its widest
/// (a 20-digit cycle number, `stress_response`, two 24-character floats, a
/// millisecond timestamp). The context is served as stored, so
/// `context_json`'s length is its size: an item is measured without
/// serialising it.
pub(crate) const OBSERVATION_JSON_BYTES: usize = 208;

/// The byte budget of one page: items are taken while their estimated
/// JSON fits in `max_bytes`; the first item is always taken, however large,
/// so every page makes progress.
pub(crate) struct PageBudget {
    left: usize,
    taken: bool,
}

impl PageBudget {
    pub(crate) fn new(max_bytes: usize) -> Self {
        PageBudget {
            left: max_bytes,
            taken: false,
        }
    }

    /// Whether an item of `bytes` fits in what is left (always for the
    /// first); if it does, it is charged.
    pub(crate) fn take(&mut self, bytes: usize) -> bool {
        if self.taken && bytes > self.left {
            return false;
        }
        self.left = self.left.saturating_sub(bytes);
        self.taken = true;
        true
    }
}

/// An upper bound of a drift item's JSON (`DriftBody`, the comma before it
/// included) apart from its affected modes, every field at its widest. The
/// modes are stored as the JSON array they are served as, so its length
/// is their size.
pub(crate) const DRIFT_JSON_BYTES: usize = 176;
