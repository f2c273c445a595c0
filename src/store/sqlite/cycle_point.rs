//! The `point` column of an observation: the [`CyclePoint`] its cycle
//! produced, in a fixed 86-byte little-endian layout (floats bit-exact, so
//! the trajectory's newest point equals the snapshot):
//!
//! `[1] format · [7 × f64] modes · f64 energy · f64 stability · u8 stress ·
//! u8 dominant (255 = none) · u8 has drift · u8 drift level · f64 magnitude
//! · u8 rolled back`

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::super::{CycleDrift, CyclePoint};
use crate::engine::{DriftLevel, Mode, StressLevel, MODE_COUNT};

const FORMAT: u8 = 1;
const LEN: usize = 1 + 8 * (MODE_COUNT + 2) + 4 + 8 + 1;
const NONE: u8 = u8::MAX;
const STRESS: [StressLevel; 4] = [
    StressLevel::Low,
    StressLevel::Med,
    StressLevel::High,
    StressLevel::Over,
];

/// The column value of a point (wraps it for `ToSql`).
pub(crate) struct PointColumn(pub Option<CyclePoint>);

fn index_of<T: PartialEq>(all: &[T], value: &T) -> u8 {
    all.iter()
        .position(|v| v == value)
        .map_or(NONE, |i| i as u8)
}

pub(crate) fn encode(p: &CyclePoint) -> Vec<u8> {
    let mut out = Vec::with_capacity(LEN);
    out.push(FORMAT);
    for m in p.mode_strengths {
        out.extend_from_slice(&m.to_le_bytes());
    }
    out.extend_from_slice(&p.energy_level.to_le_bytes());
    out.extend_from_slice(&p.stability_index.to_le_bytes());
    out.push(index_of(&STRESS, &p.stress_level));
    out.push(p.dominant_mode.map_or(NONE, |m| index_of(&Mode::ALL, &m)));
    let drift = p.drift.unwrap_or(CycleDrift {
        level: DriftLevel::D0Noise,
        magnitude: 0.0,
        rolled_back: false,
    });
    out.push(u8::from(p.drift.is_some()));
    out.push(index_of(&DriftLevel::ALL, &drift.level));
    out.extend_from_slice(&drift.magnitude.to_le_bytes());
    out.push(u8::from(drift.rolled_back));
    out
}

/// Reads the bytes [`encode`] wrote; `None` for anything else.
pub(crate) fn decode(bytes: &[u8]) -> Option<CyclePoint> {
    if bytes.len() != LEN || bytes[0] != FORMAT {
        return None;
    }
    let f64_at = |i: usize| -> Option<f64> {
        let start = 1 + 8 * i;
        Some(f64::from_le_bytes(
            bytes.get(start..start + 8)?.try_into().ok()?,
        ))
    };
    let mut mode_strengths = [0.0; MODE_COUNT];
    for (i, m) in mode_strengths.iter_mut().enumerate() {
        *m = f64_at(i)?;
    }
    let tail = 1 + 8 * (MODE_COUNT + 2);
    let byte = |i: usize| bytes.get(tail + i).copied();
    let dominant_mode = match byte(1)? {
        NONE => None,
        i => Some(*Mode::ALL.get(usize::from(i))?),
    };
    let drift = match byte(2)? {
        0 => None,
        _ => Some(CycleDrift {
            level: *DriftLevel::ALL.get(usize::from(byte(3)?))?,
            magnitude: f64::from_le_bytes(bytes.get(tail + 4..tail + 12)?.try_into().ok()?),
            rolled_back: byte(12)? != 0,
        }),
    };
    Some(CyclePoint {
        energy_level: f64_at(MODE_COUNT)?,
        stability_index: f64_at(MODE_COUNT + 1)?,
        stress_level: *STRESS.get(usize::from(byte(0)?))?,
        mode_strengths,
        dominant_mode,
        drift,
    })
}

impl ToSql for PointColumn {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match &self.0 {
            Some(point) => ToSqlOutput::from(encode(point)),
            None => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

impl FromSql for PointColumn {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Null => Ok(PointColumn(None)),
            ValueRef::Blob(bytes) => decode(bytes)
                .map(|p| PointColumn(Some(p)))
                .ok_or_else(|| FromSqlError::Other("not a stored cycle point".into())),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_reads_back_bit_exactly() {
        let with_drift = CyclePoint {
            energy_level: 0.1 + 0.2,
            stress_level: StressLevel::Over,
            stability_index: f64::MIN_POSITIVE,
            mode_strengths: [-1.0, 0.5, 1.0 / 3.0, 0.0, -0.0, 0.7, 0.95],
            dominant_mode: Some(Mode::StressResponse),
            drift: Some(CycleDrift {
                level: DriftLevel::D3Corrupt,
                magnitude: 0.43,
                rolled_back: true,
            }),
        };
        let without = CyclePoint {
            dominant_mode: None,
            drift: None,
            ..with_drift
        };
        for point in [with_drift, without] {
            let bytes = encode(&point);
            assert_eq!(bytes.len(), LEN);
            assert_eq!(decode(&bytes), Some(point));
        }
        assert_eq!(decode(&[FORMAT; 3]), None);
    }
}
