//! Stripe webhook signatures, verified exactly as Stripe specifies.
//!
//! The `Stripe-Signature` header reads `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`
//! (other schemes such as `v0` may appear and are ignored). Each `v1` is
//! HMAC-SHA256, keyed with the whole endpoint secret (`whsec_...`), over
//! `"{t}.{raw body}"`. Any one `v1` may match (Stripe sends several while a
//! secret is being rolled). The timestamp must lie within
//! [`TOLERANCE_SECS`] of now in either direction, which bounds replays of a
//! captured request. Comparison is constant-time (`Mac::verify_slice`).
//! This runs on the raw bytes, before anything parses them.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far the signed timestamp may be from now, in seconds (Stripe's
/// default tolerance).
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook request was refused (the message goes to the client: it
/// says what was wrong, never what was expected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header: {0}")]
    Malformed(&'static str),
    #[error("the Stripe-Signature timestamp is more than 300 s away from the server's clock")]
    OutsideTolerance,
    #[error("no v1 signature in Stripe-Signature matches the payload")]
    NoMatch,
}

/// The parts of a `Stripe-Signature` header that matter.
struct ParsedHeader {
    timestamp: i64,
    /// Decoded `v1` signatures; entries that are not hex are dropped.
    signatures: Vec<Vec<u8>>,
}

fn parse(header: &str) -> Result<ParsedHeader, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    let mut saw_v1 = false;
    for item in header.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            return Err(SignatureError::Malformed(
                "expected comma-separated key=value pairs",
            ));
        };
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed("more than one timestamp"));
                }
                let t = value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed("the timestamp is not an integer"))?;
                timestamp = Some(t);
            }
            "v1" => {
                saw_v1 = true;
                if let Ok(bytes) = hex::decode(value.trim()) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no timestamp (t=)"))?;
    if !saw_v1 {
        return Err(SignatureError::Malformed("no v1 signature"));
    }
    Ok(ParsedHeader {
        timestamp,
        signatures,
    })
}

/// Verifies `payload` against the `Stripe-Signature` header value with the
/// endpoint `secret`, at `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let parsed = parse(header)?;
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .map_err(|_| SignatureError::Malformed("unusable secret"))?;
    mac.update(parsed.timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let matched = parsed
        .signatures
        .iter()
        .any(|sig| mac.clone().verify_slice(sig).is_ok());
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    if (now - parsed.timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::OutsideTolerance);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    const NOW: i64 = 1_800_000_000;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn header(t: i64, sigs: &[String]) -> String {
        let mut h = format!("t={t}");
        for s in sigs {
            h.push_str(&format!(",v1={s}"));
        }
        h
    }

    #[test]
    fn accepts_a_correct_signature() {
        let h = header(NOW, &[sign(SECRET, NOW, BODY)]);
        assert_eq!(verify(Some(&h), BODY, SECRET, NOW), Ok(()));
    }

    #[test]
    fn accepts_any_matching_v1_and_ignores_other_schemes() {
        let h = format!(
            "t={NOW},v1={},v0={},v1={}",
            sign("whsec_old", NOW, BODY),
            sign(SECRET, NOW, BODY),
            sign(SECRET, NOW, BODY)
        );
        assert_eq!(verify(Some(&h), BODY, SECRET, NOW), Ok(()));
    }

    #[test]
    fn matches_an_independently_computed_vector() {
        // HMAC-SHA256("whsec_test_secret", "1800000000.{body}") computed
        // independently (Python's hmac module).
        let expected = "a5e7a4e212d19ae228f9bbfe2fd930bb48cd47c3dc118985dcb4103da864e05f";
        assert_eq!(sign(SECRET, NOW, BODY), expected);
        let h = format!("t={NOW},v1={expected}");
        assert!(verify(Some(&h), BODY, SECRET, NOW).is_ok());
    }

    #[test]
    fn refuses_missing_and_garbage_headers() {
        assert_eq!(
            verify(None, BODY, SECRET, NOW),
            Err(SignatureError::Missing)
        );
        for garbage in [
            "",
            "garbage",
            "t=abc,v1=00",
            "v1=00",
            &format!("t={NOW}"),
            "t=1,t=2,v1=00",
        ] {
            assert!(
                matches!(
                    verify(Some(garbage), BODY, SECRET, NOW),
                    Err(SignatureError::Malformed(_))
                ),
                "{garbage:?}"
            );
        }
        let not_hex = format!("t={NOW},v1=zz");
        assert_eq!(
            verify(Some(&not_hex), BODY, SECRET, NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn refuses_wrong_secret_and_changed_body() {
        let h = header(NOW, &[sign("whsec_other", NOW, BODY)]);
        assert_eq!(
            verify(Some(&h), BODY, SECRET, NOW),
            Err(SignatureError::NoMatch)
        );
        let h = header(NOW, &[sign(SECRET, NOW, BODY)]);
        let mut changed = BODY.to_vec();
        changed[10] ^= 1;
        assert_eq!(
            verify(Some(&h), &changed, SECRET, NOW),
            Err(SignatureError::NoMatch)
        );
        // The signature covers the timestamp too.
        let h = header(NOW + 1, &[sign(SECRET, NOW, BODY)]);
        assert_eq!(
            verify(Some(&h), BODY, SECRET, NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn enforces_the_tolerance_both_ways() {
        for (t, ok) in [
            (NOW - 300, true),
            (NOW + 300, true),
            (NOW - 301, false),
            (NOW + 301, false),
            (NOW - 3600, false),
        ] {
            let h = header(t, &[sign(SECRET, t, BODY)]);
            let result = verify(Some(&h), BODY, SECRET, NOW);
            assert_eq!(result.is_ok(), ok, "t offset {}", t - NOW);
            if !ok {
                assert_eq!(result, Err(SignatureError::OutsideTolerance));
            }
        }
    }
}
