//! Why a personality-test submission was rejected, with messages written
//! for API users (src/http/error.rs gives each case its API code).

/// Why a submission could not be scored. Checked in this order: unknown
/// ids, duplicates, score range, missing questions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestError {
    /// Some `question_id`s are not questions of the submitted version
    /// (sorted, each listed once).
    #[error("unknown question_id {}: not a question of this test version", join(.0))]
    UnknownQuestions(Vec<i64>),
    /// Some questions were answered more than once (sorted, each listed once).
    #[error("question_id {} answered more than once; answer each question exactly once", join(.0))]
    DuplicateQuestions(Vec<i64>),
    /// A score is outside 1–5 (the first such response in submission order).
    #[error("score {score} for question_id {question_id} is out of range; scores are integers from 1 (disagree) to 5 (agree)")]
    ScoreOutOfRange {
        /// The question the bad score was given for.
        question_id: i64,
        /// The score as submitted.
        score: i64,
    },
    /// Some questions of the version were not answered (sorted ids).
    #[error("test incomplete: {} question(s) unanswered (question_id {}); every question of the version must be answered", .missing_questions.len(), join(.missing_questions))]
    Incomplete {
        /// Ids of the unanswered questions, ascending.
        missing_questions: Vec<u32>,
    },
}

fn join<T: ToString>(ids: &[T]) -> String {
    ids.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_and_codes() {
        let e = TestError::UnknownQuestions(vec![15, 99]);
        assert_eq!(
            e.to_string(),
            "unknown question_id 15, 99: not a question of this test version"
        );
        let e = TestError::DuplicateQuestions(vec![2]);
        assert!(e
            .to_string()
            .contains("question_id 2 answered more than once"));
        let e = TestError::ScoreOutOfRange {
            question_id: 4,
            score: 6,
        };
        assert!(e
            .to_string()
            .contains("score 6 for question_id 4 is out of range"));
        let e = TestError::Incomplete {
            missing_questions: vec![3, 17],
        };
        assert!(e
            .to_string()
            .contains("2 question(s) unanswered (question_id 3, 17)"));
    }
}
