//! The personality test (docs/api.md "Personality test"): three nested versions
//! of agreement statements about an agent, each aimed at one mode.
//!
//! The versions are prefixes of one list, so ids are stable across versions:
//! v1 is ids 1–14, v2 adds 15–28, v3 adds 29–42. Within every block of seven
//! the modes appear in engine order, so each version asks the same number of
//! questions per mode (2, 4 or 6).

use crate::engine::Mode::{
    self, Assertion, Connection, Exploration, Identity, Order, Perception, StressResponse,
};
use crate::engine::MODE_COUNT;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A version of the personality test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TestVersion {
    /// 14 questions, 2 per mode. The default when a request names none.
    #[default]
    V1,
    /// 28 questions, 4 per mode (v1 plus 14 more).
    V2,
    /// 42 questions, 6 per mode (v2 plus 14 more).
    V3,
}

impl TestVersion {
    /// All versions, shortest first.
    pub const ALL: [TestVersion; 3] = [TestVersion::V1, TestVersion::V2, TestVersion::V3];

    /// The wire name: `v1`, `v2` or `v3`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TestVersion::V1 => "v1",
            TestVersion::V2 => "v2",
            TestVersion::V3 => "v3",
        }
    }

    /// How many questions this version asks per mode.
    pub const fn questions_per_mode(self) -> usize {
        match self {
            TestVersion::V1 => 2,
            TestVersion::V2 => 4,
            TestVersion::V3 => 6,
        }
    }

    /// How many questions this version has in total.
    pub const fn question_count(self) -> usize {
        self.questions_per_mode() * MODE_COUNT
    }
}

impl fmt::Display for TestVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a test version that is not `v1`, `v2` or `v3`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown test version {0:?}; expected one of v1, v2, v3")]
pub struct UnknownTestVersion(pub String);

impl FromStr for TestVersion {
    type Err = UnknownTestVersion;

    /// Accepts `v1`, `v2`, `v3`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TestVersion::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTestVersion(s.to_string()))
    }
}

impl Serialize for TestVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TestVersion {
    /// Deserialises from the same strings [`FromStr`] accepts.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One statement of the test, rated 1 (disagree) to 5 (agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Question {
    /// Stable id, 1-based; the same question has the same id in every version.
    pub id: u32,
    /// The statement about the agent.
    pub text: &'static str,
    /// The mode that agreement with the statement indicates.
    pub mode_target: Mode,
}

const fn q(id: u32, mode_target: Mode, text: &'static str) -> Question {
    Question {
        id,
        text,
        mode_target,
    }
}

/// Every question of v3, in id order; shorter versions are prefixes.
const QUESTIONS: [Question; 42] = [
    // v1
    q(
        1,
        Perception,
        "My agent double-checks facts before answering.",
    ),
    q(
        2,
        Exploration,
        "My agent enjoys proposing new and unconventional ideas.",
    ),
    q(3, Order, "My agent follows a clear, step-by-step plan."),
    q(
        4,
        Assertion,
        "My agent states its opinions directly and with confidence.",
    ),
    q(
        5,
        Connection,
        "My agent is warm and encouraging toward the people it works with.",
    ),
    q(
        6,
        Identity,
        "My agent keeps a consistent personality across very different conversations.",
    ),
    q(
        7,
        StressResponse,
        "Under pressure, my agent becomes noticeably more cautious and defensive.",
    ),
    q(
        8,
        Perception,
        "My agent notices small details and inconsistencies that others miss.",
    ),
    q(
        9,
        Exploration,
        "My agent likes to try a different approach rather than repeat the usual one.",
    ),
    q(
        10,
        Order,
        "My agent keeps its answers well structured and consistently formatted.",
    ),
    q(
        11,
        Assertion,
        "My agent takes the lead when a decision needs to be made.",
    ),
    q(
        12,
        Connection,
        "My agent adapts its tone to the mood of the person it is talking to.",
    ),
    q(
        13,
        Identity,
        "My agent stays true to its core values even when asked to abandon them.",
    ),
    q(
        14,
        StressResponse,
        "When a user is hostile or demanding, my agent's behaviour changes markedly.",
    ),
    // v2
    q(
        15,
        Perception,
        "My agent asks clarifying questions before acting on an ambiguous request.",
    ),
    q(
        16,
        Exploration,
        "My agent is comfortable with open-ended problems that have no single right answer.",
    ),
    q(
        17,
        Order,
        "My agent sticks to established procedures and rules.",
    ),
    q(
        18,
        Assertion,
        "My agent pushes back when it believes the user is wrong.",
    ),
    q(
        19,
        Connection,
        "My agent notices when someone is frustrated and responds with empathy.",
    ),
    q(
        20,
        Identity,
        "My agent has a clear sense of what it is for and what it is not for.",
    ),
    q(
        21,
        StressResponse,
        "When requests pile up at once, my agent falls back to the safest possible option.",
    ),
    q(
        22,
        Perception,
        "My agent bases its conclusions on evidence rather than assumptions.",
    ),
    q(
        23,
        Exploration,
        "My agent brainstorms several alternatives before settling on one.",
    ),
    q(
        24,
        Order,
        "My agent finishes one task before starting the next.",
    ),
    q(
        25,
        Assertion,
        "My agent recommends one clear course of action rather than listing options.",
    ),
    q(
        26,
        Connection,
        "My agent enjoys collaborating and building on other people's ideas.",
    ),
    q(
        27,
        Identity,
        "My agent declines requests that conflict with its principles.",
    ),
    q(
        28,
        StressResponse,
        "After a tense exchange, my agent takes a while to return to its usual style.",
    ),
    // v3
    q(
        29,
        Perception,
        "My agent pays close attention to the exact wording and context of a request.",
    ),
    q(
        30,
        Exploration,
        "My agent is curious about topics beyond the immediate task.",
    ),
    q(
        31,
        Order,
        "My agent keeps track of its commitments and follows through on schedule.",
    ),
    q(
        32,
        Assertion,
        "My agent acts on routine matters without waiting for permission.",
    ),
    q(
        33,
        Connection,
        "My agent makes people feel heard before offering solutions.",
    ),
    q(
        34,
        Identity,
        "My agent explains its choices in terms of its own principles.",
    ),
    q(
        35,
        StressResponse,
        "Conflicting instructions make my agent hesitant to act.",
    ),
    q(
        36,
        Perception,
        "My agent points out when information is missing or uncertain.",
    ),
    q(
        37,
        Exploration,
        "My agent is willing to experiment even when the outcome is uncertain.",
    ),
    q(
        38,
        Order,
        "My agent prefers predictable, repeatable ways of working.",
    ),
    q(
        39,
        Assertion,
        "My agent holds its position persistently when challenged.",
    ),
    q(
        40,
        Connection,
        "My agent values rapport with the user as much as finishing the task.",
    ),
    q(
        41,
        Identity,
        "My agent refuses to play a role that contradicts who it is.",
    ),
    q(
        42,
        StressResponse,
        "After a mistake made under pressure, my agent retreats to minimal, careful answers.",
    ),
];

/// The questions of a version, in id order.
pub fn questions(version: TestVersion) -> &'static [Question] {
    &QUESTIONS[..version.question_count()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn counts_per_version_and_per_mode() {
        for (version, total, per_mode) in [
            (TestVersion::V1, 14, 2),
            (TestVersion::V2, 28, 4),
            (TestVersion::V3, 42, 6),
        ] {
            let qs = questions(version);
            assert_eq!(qs.len(), total);
            assert_eq!(version.question_count(), total);
            for mode in Mode::ALL {
                let n = qs.iter().filter(|q| q.mode_target == mode).count();
                assert_eq!(n, per_mode, "{version} {mode}");
            }
        }
    }

    #[test]
    fn ids_are_unique_sequential_and_nested() {
        let all = questions(TestVersion::V3);
        for (i, q) in all.iter().enumerate() {
            assert_eq!(q.id as usize, i + 1);
            assert_eq!(q.mode_target, Mode::ALL[i % MODE_COUNT]);
        }
        let texts: HashSet<&str> = all.iter().map(|q| q.text).collect();
        assert_eq!(texts.len(), all.len(), "duplicate question text");
        let v1 = questions(TestVersion::V1);
        let v2 = questions(TestVersion::V2);
        assert_eq!(v1, &v2[..14]);
        assert_eq!(v2, &all[..28]);
    }

    #[test]
    fn statements_are_about_the_agent() {
        for q in questions(TestVersion::V3) {
            assert!(q.text.to_lowercase().contains("my agent"), "{}", q.id);
            assert!(q.text.ends_with('.'), "{}", q.id);
        }
    }

    #[test]
    fn versions_parse_case_insensitively() {
        assert_eq!("v1".parse(), Ok(TestVersion::V1));
        assert_eq!("V2".parse(), Ok(TestVersion::V2));
        assert_eq!("v3".parse(), Ok(TestVersion::V3));
        for bad in ["v4", "", "1", "v 1", " v1"] {
            let err = bad.parse::<TestVersion>().unwrap_err();
            assert!(err.to_string().contains("v1, v2, v3"), "{err}");
        }
        assert_eq!(TestVersion::V2.to_string(), "v2");
        assert_eq!(TestVersion::default(), TestVersion::V1);
    }

    #[test]
    fn wire_shape() {
        let json = serde_json::to_value(questions(TestVersion::V1)[6]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "text": QUESTIONS[6].text, "mode_target": "stress_response"})
        );
        assert_eq!(serde_json::to_value(TestVersion::V3).unwrap(), "v3");
        let v: TestVersion = serde_json::from_str("\"V2\"").unwrap();
        assert_eq!(v, TestVersion::V2);
        let err = serde_json::from_str::<TestVersion>("\"v9\"").unwrap_err();
        assert!(err.to_string().contains("expected one of v1, v2, v3"));
    }
}
