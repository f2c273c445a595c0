//! A mode vector that serialises as a JSON object keyed by mode name.

use crate::engine::{Mode, MODE_COUNT};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// One value per mode, in the engine's fixed mode order.
///
/// On the wire it is an object with all seven lowercase mode names as keys,
/// in mode order: `{"perception": 0.85, "exploration": 0.15, ...}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeProfile(pub [f64; MODE_COUNT]);

impl ModeProfile {
    /// The value for one mode.
    pub fn get(&self, mode: Mode) -> f64 {
        self.0[mode.index()]
    }

    /// The underlying vector, in mode order.
    pub fn as_array(&self) -> &[f64; MODE_COUNT] {
        &self.0
    }
}

impl From<[f64; MODE_COUNT]> for ModeProfile {
    fn from(values: [f64; MODE_COUNT]) -> Self {
        ModeProfile(values)
    }
}

impl Serialize for ModeProfile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(MODE_COUNT))?;
        for mode in Mode::ALL {
            map.serialize_entry(mode.as_str(), &self.get(mode))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_an_object_of_all_modes_in_order() {
        let profile = ModeProfile([0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 1.0]);
        let json = serde_json::to_string(&profile).unwrap();
        assert_eq!(
            json,
            r#"{"perception":0.0,"exploration":0.125,"order":0.25,"assertion":0.375,"connection":0.5,"identity":0.625,"stress_response":1.0}"#
        );
        assert_eq!(profile.get(Mode::Connection), 0.5);
    }
}
