//! Reference data and pure logic behind the persona catalogue and the
//! personality test (docs/api.md "Personas" and "Personality test").
//!
//! Everything here is static data plus pure functions: no I/O, no clock, no
//! async. Persona mode profiles and persona matching come from
//! [`crate::engine::personas`], so the catalogue, the test results and the
//! engine's snapshot always agree.
//!
//! - [`personas`]: the twelve personas ([`all`], [`get`], [`name_of`]).
//! - [`questions`](mod@questions): the test versions and their statements.
//! - [`test_scoring`]: turning answers into a mode profile ([`score`]) and
//!   the best-matching personas ([`matched_personas`]); [`TestError`] says
//!   why a submission was rejected.

mod mode_profile;
mod persona_data;
mod persona_traits;
pub mod personas;
pub mod questions;
mod test_error;
pub mod test_scoring;

pub use mode_profile::ModeProfile;
pub use persona_traits::{
    DecisionStyle, Degree, Expression, RecoveryPath, Risk, StressRecovery, Tempo,
};
pub use personas::{all, get, name_of, Persona, PERSONA_ID_PREFIX};
pub use questions::{questions, Question, TestVersion, UnknownTestVersion};
pub use test_error::TestError;
pub use test_scoring::{
    infer_version, matched_personas, score, PersonaMatch, TestProfile, TestResponse, MAX_SCORE,
    MIN_SCORE,
};
