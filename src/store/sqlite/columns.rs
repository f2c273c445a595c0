//! The engine's enums as SQLite columns: stored as their wire names (text),
//! read back into the enum, so a row that holds anything else is an error
//! at the store instead of a string the wire layer would have to re-check.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::super::InstanceEventKind;
use crate::engine::{DriftLevel, Mode, StressLevel};

/// Implements `ToSql`/`FromSql` for an enum with `as_str` and a list of
/// all its values.
macro_rules! text_column {
    ($type:ty, $all:expr) => {
        impl ToSql for $type {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $type {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $all.into_iter()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| {
                        FromSqlError::Other(
                            format!("{text:?} is not a {}", stringify!($type)).into(),
                        )
                    })
            }
        }
    };
}

text_column!(Mode, Mode::ALL);
text_column!(DriftLevel, DriftLevel::ALL);
text_column!(
    StressLevel,
    [
        StressLevel::Low,
        StressLevel::Med,
        StressLevel::High,
        StressLevel::Over
    ]
);
text_column!(
    InstanceEventKind,
    [InstanceEventKind::Reset, InstanceEventKind::PersonalityTest]
);

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn enums_round_trip_and_unknown_text_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        for mode in Mode::ALL {
            let back: Mode = conn.query_row("SELECT ?1", [mode], |r| r.get(0)).unwrap();
            assert_eq!(back, mode);
        }
        for level in DriftLevel::ALL {
            let back: DriftLevel = conn.query_row("SELECT ?1", [level], |r| r.get(0)).unwrap();
            assert_eq!(back, level);
        }
        let stress: StressLevel = conn.query_row("SELECT 'OVER'", [], |r| r.get(0)).unwrap();
        assert_eq!(stress, StressLevel::Over);
        let kind: InstanceEventKind = conn
            .query_row("SELECT 'personality_test'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kind, InstanceEventKind::PersonalityTest);
        let bad: rusqlite::Result<Mode> = conn.query_row("SELECT 'calm'", [], |r| r.get(0));
        assert!(bad.is_err());
        let not_text: rusqlite::Result<StressLevel> = conn.query_row("SELECT 3", [], |r| r.get(0));
        assert!(not_text.is_err());
    }
}
