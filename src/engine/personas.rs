//! Persona matching: how close a mode vector is to each of the twelve
//! reference personas (docs/engine.md "Personas in the snapshot").

use super::mode::MODE_COUNT;

/// Number of reference personas.
pub const PERSONA_COUNT: usize = 12;

/// The twelve personas in their fixed order (ties are broken by this order),
/// with their mode profiles (perception, exploration, order, assertion,
/// connection, identity, stress_response).
pub const PERSONAS: [(&str, [f64; MODE_COUNT]); PERSONA_COUNT] = [
    ("analytical", [0.85, 0.15, 0.75, 0.20, 0.20, 0.35, 0.05]),
    ("creative", [0.30, 0.85, 0.10, 0.70, 0.40, 0.25, 0.05]),
    ("leader", [0.30, 0.30, 0.45, 0.85, 0.35, 0.75, 0.05]),
    ("supporter", [0.70, 0.20, 0.30, 0.15, 0.85, 0.30, 0.05]),
    ("explorer", [0.35, 0.85, 0.10, 0.35, 0.70, 0.20, 0.05]),
    ("guardian", [0.45, 0.10, 0.85, 0.30, 0.25, 0.75, 0.05]),
    ("philosopher", [0.75, 0.40, 0.30, 0.15, 0.30, 0.85, 0.05]),
    ("performer", [0.15, 0.50, 0.10, 0.70, 0.85, 0.30, 0.05]),
    ("scholar", [0.80, 0.45, 0.65, 0.15, 0.15, 0.30, 0.05]),
    ("diplomat", [0.45, 0.20, 0.70, 0.20, 0.80, 0.35, 0.05]),
    ("pioneer", [0.20, 0.75, 0.30, 0.85, 0.15, 0.45, 0.05]),
    ("catalyst", [0.20, 0.70, 0.15, 0.55, 0.80, 0.30, 0.05]),
];

/// The four composites and the two personas each one needs (both ≥ 0.6).
pub const COMPOSITES: [(&str, &str, &str); 4] = [
    ("scholar_diplomat", "scholar", "diplomat"),
    ("leader_creator", "leader", "creative"),
    ("guardian_explorer", "guardian", "explorer"),
    ("philosopher_supporter", "philosopher", "supporter"),
];

/// The public id of a persona key (`persona_` + key).
pub fn persona_id(key: &str) -> String {
    format!("persona_{key}")
}

/// Mode profile of a persona, by key (`analytical`) or id (`persona_analytical`).
pub fn persona_profile(key_or_id: &str) -> Option<[f64; MODE_COUNT]> {
    let key = key_or_id.strip_prefix("persona_").unwrap_or(key_or_id);
    PERSONAS.iter().find(|(k, _)| *k == key).map(|(_, p)| *p)
}

/// Match score of every persona, in persona order: max(0, cosine(v⁺, profile))
/// where v⁺ is `v` with negative entries set to 0; all 0 when v⁺ is zero.
pub fn match_scores(v: &[f64; MODE_COUNT]) -> [f64; PERSONA_COUNT] {
    let mut positive = [0.0; MODE_COUNT];
    for (p, x) in positive.iter_mut().zip(v) {
        *p = x.max(0.0);
    }
    let norm_v = positive.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut scores = [0.0; PERSONA_COUNT];
    if norm_v == 0.0 {
        return scores;
    }
    for (score, (_, profile)) in scores.iter_mut().zip(PERSONAS.iter()) {
        let dot: f64 = positive.iter().zip(profile).map(|(a, b)| a * b).sum();
        let norm_p = profile.iter().map(|x| x * x).sum::<f64>().sqrt();
        *score = (dot / (norm_v * norm_p)).max(0.0);
    }
    scores
}

/// Persona indices ordered best first; ties keep persona order.
pub fn ranked(scores: &[f64; PERSONA_COUNT]) -> [usize; PERSONA_COUNT] {
    let mut order: [usize; PERSONA_COUNT] = std::array::from_fn(|i| i);
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// Primary and secondary persona keys: the two best with score ≥ 0.5.
pub fn primary_secondary(
    scores: &[f64; PERSONA_COUNT],
) -> (Option<&'static str>, Option<&'static str>) {
    let order = ranked(scores);
    let pick = |i: usize| (scores[order[i]] >= 0.5).then(|| PERSONAS[order[i]].0);
    (pick(0), pick(1))
}

/// Names of the composites whose two personas both score ≥ 0.6.
pub fn active_composites(scores: &[f64; PERSONA_COUNT]) -> Vec<&'static str> {
    let score_of = |key: &str| {
        PERSONAS
            .iter()
            .position(|(k, _)| *k == key)
            .map_or(0.0, |i| scores[i])
    };
    COMPOSITES
        .iter()
        .filter(|(_, a, b)| score_of(a) >= 0.6 && score_of(b) >= 0.6)
        .map(|(name, _, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persona_profile_matches_itself_best() {
        for (i, (key, profile)) in PERSONAS.iter().enumerate() {
            let scores = match_scores(profile);
            assert!((scores[i] - 1.0).abs() < 1e-12, "{key}");
            assert_eq!(primary_secondary(&scores).0, Some(*key));
        }
    }

    #[test]
    fn zero_and_negative_vectors_match_nothing() {
        assert_eq!(match_scores(&[0.0; 7]), [0.0; 12]);
        assert_eq!(match_scores(&[-0.5; 7]), [0.0; 12]);
        assert_eq!(primary_secondary(&[0.0; 12]), (None, None));
    }

    #[test]
    fn profiles_are_pairwise_distinct() {
        for (i, (_, a)) in PERSONAS.iter().enumerate() {
            for (_, b) in &PERSONAS[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn lookup_by_key_or_id() {
        assert_eq!(persona_profile("persona_leader"), persona_profile("leader"));
        assert!(persona_profile("persona_unknown").is_none());
    }
}
