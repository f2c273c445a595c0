//! Scoring a personality-test submission into a mode profile, and matching
//! that profile against the reference personas (docs/api.md "Personality test").

use super::mode_profile::ModeProfile;
use super::personas::name_of;
use super::questions::{questions, TestVersion};
use super::test_error::TestError;
use crate::engine::personas::{match_scores, persona_id, ranked, PERSONAS};
use crate::engine::MODE_COUNT;
use serde::{Deserialize, Serialize};

/// Lowest allowed agreement score.
pub const MIN_SCORE: i64 = 1;
/// Highest allowed agreement score.
pub const MAX_SCORE: i64 = 5;

/// One answer as submitted: `{"question_id": 1, "score": 4}`.
///
/// Both fields are wide signed integers so that any integer a client sends
/// reaches [`score`] and gets a precise error rather than a type error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestResponse {
    /// Id of the question answered.
    pub question_id: i64,
    /// Agreement from 1 (strongly disagree) to 5 (strongly agree).
    #[schema(minimum = 1, maximum = 5)]
    pub score: i64,
}

/// The scored test: per mode, the mean of `(score − 1) / 4` over that
/// mode's questions, so every value is in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestProfile {
    /// One value per mode, in engine mode order.
    pub modes: [f64; MODE_COUNT],
}

impl TestProfile {
    /// The profile as a wire object keyed by mode name.
    pub fn mode_profile(&self) -> ModeProfile {
        ModeProfile(self.modes)
    }
}

/// Scores a complete submission for `version`.
///
/// Every question of the version must be answered exactly once with an
/// integer 1–5; the order of responses does not matter. The mean for a mode
/// is computed as `Σ(score − 1) / (4·n)` in exact integer arithmetic followed
/// by one division, so the result is the correctly rounded mean.
pub fn score(version: TestVersion, responses: &[TestResponse]) -> Result<TestProfile, TestError> {
    let qs = questions(version);
    let index_of = |id: i64| qs.iter().position(|q| i64::from(q.id) == id);

    let positions: Vec<Option<usize>> = responses.iter().map(|r| index_of(r.question_id)).collect();
    let mut unknown: Vec<i64> = responses
        .iter()
        .zip(&positions)
        .filter(|(_, position)| position.is_none())
        .map(|(r, _)| r.question_id)
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        return Err(TestError::UnknownQuestions(unknown));
    }

    // Every response has a position now, in response order.
    let indices: Vec<usize> = positions.into_iter().flatten().collect();
    let mut answered = vec![0usize; qs.len()];
    for &i in &indices {
        answered[i] += 1;
    }
    let duplicates: Vec<i64> = qs
        .iter()
        .zip(&answered)
        .filter(|(_, &n)| n > 1)
        .map(|(q, _)| i64::from(q.id))
        .collect();
    if !duplicates.is_empty() {
        return Err(TestError::DuplicateQuestions(duplicates));
    }

    if let Some(r) = responses
        .iter()
        .find(|r| !(MIN_SCORE..=MAX_SCORE).contains(&r.score))
    {
        return Err(TestError::ScoreOutOfRange {
            question_id: r.question_id,
            score: r.score,
        });
    }

    let missing: Vec<u32> = qs
        .iter()
        .zip(&answered)
        .filter(|(_, &n)| n == 0)
        .map(|(q, _)| q.id)
        .collect();
    if !missing.is_empty() {
        return Err(TestError::Incomplete {
            missing_questions: missing,
        });
    }

    let mut sums = [0i64; MODE_COUNT];
    let mut counts = [0i64; MODE_COUNT];
    for (r, &i) in responses.iter().zip(&indices) {
        let m = qs[i].mode_target.index();
        sums[m] += r.score - MIN_SCORE;
        counts[m] += 1;
    }
    let range = MAX_SCORE - MIN_SCORE;
    let modes = std::array::from_fn(|m| sums[m] as f64 / (range * counts[m]) as f64);
    Ok(TestProfile { modes })
}

/// The version a submission that names none was answered against: the
/// shortest version whose ids cover the highest submitted `question_id`
/// (v1 for an empty submission, v3 when even v3 is too short, so that
/// [`score`] then reports the unknown ids).
///
/// The official Python client's `submit` sends no `version` field, so the
/// server needs this to accept v2 and v3 answers from it. Versions are
/// nested prefixes, so this never turns a valid submission into an invalid
/// one.
pub fn infer_version(responses: &[TestResponse]) -> TestVersion {
    let max_id = responses.iter().map(|r| r.question_id).max().unwrap_or(0);
    TestVersion::ALL
        .into_iter()
        .find(|v| max_id <= v.question_count() as i64)
        .unwrap_or(TestVersion::V3)
}

/// One entry of `matched_personas`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PersonaMatch {
    /// Persona id, e.g. `persona_performer`.
    pub id: String,
    /// Display name, e.g. `The Performer`.
    pub name: &'static str,
    /// Match score in [0, 1] (the engine's cosine match).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub match_score: f64,
}

/// The `n` best-matching personas for a mode vector, best first; ties keep
/// persona order. `n` larger than the number of personas returns them all.
pub fn matched_personas(modes: &[f64; MODE_COUNT], n: usize) -> Vec<PersonaMatch> {
    let scores = match_scores(modes);
    ranked(&scores)
        .into_iter()
        .take(n)
        .map(|i| {
            let key = PERSONAS[i].0;
            PersonaMatch {
                id: persona_id(key),
                name: name_of(key).unwrap_or(key),
                // Cosine can exceed 1 by an ulp; the wire promises [0, 1].
                match_score: scores[i].clamp(0.0, 1.0),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Mode;

    fn answer_all(version: TestVersion, f: impl Fn(u32, Mode) -> i64) -> Vec<TestResponse> {
        questions(version)
            .iter()
            .map(|q| TestResponse {
                question_id: i64::from(q.id),
                score: f(q.id, q.mode_target),
            })
            .collect()
    }

    fn r(question_id: i64, score: i64) -> TestResponse {
        TestResponse { question_id, score }
    }

    #[test]
    fn all_threes_give_one_half_everywhere() {
        for version in TestVersion::ALL {
            let profile = score(version, &answer_all(version, |_, _| 3)).unwrap();
            assert_eq!(profile.modes, [0.5; MODE_COUNT], "{version}");
        }
    }

    #[test]
    fn extremes_and_means() {
        let profile = score(TestVersion::V1, &answer_all(TestVersion::V1, |_, _| 1)).unwrap();
        assert_eq!(profile.modes, [0.0; MODE_COUNT]);
        let profile = score(TestVersion::V1, &answer_all(TestVersion::V1, |_, _| 5)).unwrap();
        assert_eq!(profile.modes, [1.0; MODE_COUNT]);
        // v2 perception questions are 1, 8, 15, 22: scores 1, 2, 4, 5 → (0+1+3+4)/16.
        let scores = [(1, 1), (8, 2), (15, 4), (22, 5)];
        let responses = answer_all(TestVersion::V2, |id, _| {
            scores.iter().find(|(q, _)| *q == id).map_or(3, |(_, s)| *s)
        });
        let profile = score(TestVersion::V2, &responses).unwrap();
        assert_eq!(profile.modes[Mode::Perception.index()], 0.5);
        // Order of responses does not matter.
        let mut reversed = responses.clone();
        reversed.reverse();
        assert_eq!(score(TestVersion::V2, &reversed).unwrap(), profile);
    }

    #[test]
    fn connection_and_assertion_answers_match_the_performer() {
        let responses = answer_all(TestVersion::V1, |_, m| match m {
            Mode::Connection | Mode::Assertion => 5,
            _ => 2,
        });
        let profile = score(TestVersion::V1, &responses).unwrap();
        assert_eq!(profile.modes[Mode::Connection.index()], 1.0);
        assert_eq!(profile.modes[Mode::Order.index()], 0.25);
        let top = matched_personas(&profile.modes, 3);
        assert_eq!(top.len(), 3);
        assert!(
            top[..2].iter().any(|m| m.id == "persona_performer"),
            "{top:?}"
        );
        assert!(top.windows(2).all(|w| w[0].match_score >= w[1].match_score));
    }

    #[test]
    fn each_persona_profile_matches_itself_first() {
        for (key, profile) in PERSONAS.iter() {
            let top = matched_personas(profile, 3);
            assert_eq!(top[0].id, persona_id(key));
            assert_eq!(Some(top[0].name), name_of(key));
            assert!(top[0].match_score >= 0.99 && top[0].match_score <= 1.0);
        }
    }

    #[test]
    fn matching_edge_cases() {
        assert!(matched_personas(&[0.5; MODE_COUNT], 0).is_empty());
        assert_eq!(matched_personas(&[0.5; MODE_COUNT], 100).len(), 12);
        let zero = matched_personas(&[0.0; MODE_COUNT], 3);
        assert_eq!(zero[0].id, "persona_analytical");
        assert!(zero.iter().all(|m| m.match_score == 0.0));
        let json = serde_json::to_value(&zero[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "persona_analytical", "name": "The Analyst", "match_score": 0.0})
        );
    }

    #[test]
    fn unknown_ids_are_reported_sorted_and_once() {
        let mut responses = answer_all(TestVersion::V1, |_, _| 3);
        responses.extend([r(99, 3), r(15, 3), r(0, 9), r(-4, 3), r(99, 3)]);
        assert_eq!(
            score(TestVersion::V1, &responses),
            Err(TestError::UnknownQuestions(vec![-4, 0, 15, 99]))
        );
        // Id 15 is valid in v2.
        let mut responses = answer_all(TestVersion::V2, |_, _| 3);
        responses.push(r(43, 3));
        assert_eq!(
            score(TestVersion::V2, &responses),
            Err(TestError::UnknownQuestions(vec![43]))
        );
    }

    #[test]
    fn duplicates_are_reported_before_range_and_missing() {
        let mut responses = answer_all(TestVersion::V1, |_, _| 3);
        responses.retain(|r| r.question_id != 14);
        responses.extend([r(7, 0), r(2, 3), r(2, 4)]);
        assert_eq!(
            score(TestVersion::V1, &responses),
            Err(TestError::DuplicateQuestions(vec![2, 7]))
        );
    }

    #[test]
    fn scores_outside_one_to_five_are_rejected() {
        for bad in [0, 6, -1, i64::MAX, i64::MIN] {
            let responses = answer_all(TestVersion::V1, |id, _| if id == 5 { bad } else { 3 });
            assert_eq!(
                score(TestVersion::V1, &responses),
                Err(TestError::ScoreOutOfRange {
                    question_id: 5,
                    score: bad
                })
            );
        }
        // Range is checked before completeness.
        let err = score(TestVersion::V1, &[r(3, 6)]).unwrap_err();
        assert_eq!(
            err,
            TestError::ScoreOutOfRange {
                question_id: 3,
                score: 6
            }
        );
    }

    #[test]
    fn missing_questions_are_listed_exactly() {
        let mut responses = answer_all(TestVersion::V2, |_, _| 4);
        responses.retain(|r| ![28, 3, 17].contains(&r.question_id));
        let err = score(TestVersion::V2, &responses).unwrap_err();
        assert_eq!(
            err,
            TestError::Incomplete {
                missing_questions: vec![3, 17, 28]
            }
        );
        let err = score(TestVersion::V1, &[]).unwrap_err();
        assert_eq!(
            err,
            TestError::Incomplete {
                missing_questions: (1..=14).collect()
            }
        );
    }

    #[test]
    fn version_is_inferred_from_the_highest_id() {
        assert_eq!(infer_version(&[]), TestVersion::V1);
        for version in TestVersion::ALL {
            let responses = answer_all(version, |_, _| 3);
            assert_eq!(infer_version(&responses), version);
        }
        assert_eq!(infer_version(&[r(14, 3)]), TestVersion::V1);
        assert_eq!(infer_version(&[r(-3, 3), r(15, 3)]), TestVersion::V2);
        assert_eq!(infer_version(&[r(43, 3)]), TestVersion::V3);
        let err = score(infer_version(&[r(43, 3)]), &[r(43, 3)]).unwrap_err();
        assert_eq!(err, TestError::UnknownQuestions(vec![43]));
    }

    #[test]
    fn responses_deserialise_strictly() {
        let ok: TestResponse = serde_json::from_str(r#"{"question_id": 1, "score": 4}"#).unwrap();
        assert_eq!(ok, r(1, 4));
        assert!(
            serde_json::from_str::<TestResponse>(r#"{"question_id": 1, "score": 4.5}"#).is_err()
        );
        assert!(serde_json::from_str::<TestResponse>(r#"{"question_id": 1}"#).is_err());
        assert!(
            serde_json::from_str::<TestResponse>(r#"{"question_id": 1, "score": 4, "x": 1}"#)
                .is_err()
        );
    }
}
