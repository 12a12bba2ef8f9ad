//! The `page_token` of lists: opaque to clients, it holds where the next
//! page starts and a digest of the filters (and of who asked) it was given
//! for, with a checksum over both. An edited token, or one used with other
//! filters or by another caller, is refused. The token is not secret:
//! what a caller may list is decided by who the caller is, never by the
//! token, so a forged one can only start a caller's own list elsewhere.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{TimeZone, Utc};
use rocket::serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::PageKey;

/// Says what the checksum is of, so that no other digest passes for one.
const CHECKSUM_CONTEXT: &[u8] = b"longrun page token v1\n";
/// Bytes of the checksum kept.
const CHECKSUM_BYTES: usize = 12;

#[derive(Serialize, Deserialize)]
#[serde(crate = "rocket::serde")]
struct Payload {
    /// `created_at` of the last row, in microseconds since 1970.
    t: i64,
    /// Its id.
    i: Uuid,
    /// The filters' digest.
    f: String,
}

/// The digest of a list's filters and of who asks, in hex: a token binds
/// to it.
pub(crate) fn filters_digest(parts: &[Option<&str>]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        match part {
            Some(value) => {
                hasher.update(b"1");
                hasher.update((value.len() as u64).to_be_bytes());
                hasher.update(value.as_bytes());
            }
            None => hasher.update(b"0"),
        }
    }
    hex(&hasher.finalize()[..16])
}

/// The token of the page after `key`, for lists with `filters` (a digest).
pub(crate) fn encode(key: PageKey, filters: &str) -> String {
    let payload = Payload {
        t: key.created_at.timestamp_micros(),
        i: key.id,
        f: filters.to_owned(),
    };
    // A struct of a number, a UUID and a string always serializes.
    let json = rocket::serde::json::to_string(&payload).unwrap_or_default();
    let body = URL_SAFE_NO_PAD.encode(json);
    let checksum = URL_SAFE_NO_PAD.encode(checksum(&body));
    format!("{body}.{checksum}")
}

/// Where the page of `token` starts, if the token is one [`encode`] made
/// for these `filters`.
pub(crate) fn decode(token: &str, filters: &str) -> Option<PageKey> {
    let (body, sum) = token.split_once('.')?;
    if URL_SAFE_NO_PAD.decode(sum).ok()? != checksum(body) {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(body).ok()?;
    let payload: Payload = rocket::serde::json::from_slice(&json).ok()?;
    if payload.f != filters {
        return None;
    }
    Some(PageKey {
        created_at: Utc.timestamp_micros(payload.t).single()?,
        id: payload.i,
    })
}

fn checksum(body: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(CHECKSUM_CONTEXT);
    hasher.update(body.as_bytes());
    hasher.finalize()[..CHECKSUM_BYTES].to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PageKey {
        PageKey {
            created_at: Utc
                .timestamp_micros(1_790_000_000_123_456)
                .single()
                .unwrap_or_default(),
            id: Uuid::from_u128(42),
        }
    }

    #[test]
    fn a_token_gives_back_its_place_for_the_same_filters_only() {
        let filters = filters_digest(&[Some("alice"), None, Some("echo")]);
        let token = encode(key(), &filters);
        assert_eq!(decode(&token, &filters), Some(key()));
        let others = filters_digest(&[Some("alice"), None, Some("question_generation")]);
        assert_eq!(decode(&token, &others), None);
    }

    #[test]
    fn an_edited_token_is_refused() {
        let filters = filters_digest(&[None]);
        let token = encode(key(), &filters);
        for at in 0..token.len() {
            let mut edited = token.clone().into_bytes();
            edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(edited).unwrap_or_default();
            if edited != token {
                assert_eq!(decode(&edited, &filters), None, "edited at {at}");
            }
        }
        assert_eq!(decode("", &filters), None);
        assert_eq!(decode("not.a token", &filters), None);
    }

    #[test]
    fn filters_that_run_together_differ() {
        assert_ne!(
            filters_digest(&[Some("ab"), Some("c")]),
            filters_digest(&[Some("a"), Some("bc")])
        );
        assert_ne!(
            filters_digest(&[None, Some("")]),
            filters_digest(&[Some(""), None])
        );
    }
}
