//! Completion tokens: what an HTTP target that answered 202 presents to
//! finish the operation it was handed, with
//! `POST /api/v1/operations/{id}/complete` or `/fail`.
//!
//! A token names one attempt's claim (its worker and attempt number) and
//! carries an HMAC of the claim and the operation's id under a key the
//! database holds, so any process over that database checks it without a
//! lookup. It is good for that claim only: once the operation finishes, or
//! its claim is lost to a retry or a cancel, the write it allows matches
//! nothing.

use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Rocket};
use sha2::Sha256;
use uuid::Uuid;

use crate::report::Chain;
use crate::startup::{self, needs, StartError};
use crate::store::{ClaimToken, Store};

/// The name of the key in the database.
const KEY_NAME: &str = "completion_tokens";

/// Makes and checks completion tokens. Cheap to clone.
#[derive(Clone)]
pub struct CompletionTokens {
    key: Arc<[u8]>,
}

impl CompletionTokens {
    pub fn new(key: &[u8]) -> Self {
        CompletionTokens { key: key.into() }
    }

    /// The token of `claim`: `{attempt}.{worker}.{signature}`.
    pub fn mint(&self, claim: &ClaimToken) -> String {
        let signature = self.signature(claim.id, claim.attempt, &claim.worker);
        format!("{}.{}.{signature}", claim.attempt, claim.worker)
    }

    /// The claim `token` names for operation `id`, if it is one this
    /// service made for that operation.
    pub fn verify(&self, id: Uuid, token: &str) -> Option<ClaimToken> {
        let mut parts = token.splitn(3, '.');
        let (attempt, worker, signature) = (parts.next()?, parts.next()?, parts.next()?);
        let attempt: i32 = attempt.parse().ok()?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .ok()?;
        self.mac(id, attempt, worker)?.verify_slice(&signature).ok()?;
        Some(ClaimToken {
            id,
            worker: worker.to_owned(),
            attempt,
        })
    }

    fn signature(&self, id: Uuid, attempt: i32, worker: &str) -> String {
        self.mac(id, attempt, worker)
            .map(|mac| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
            .unwrap_or_default()
    }

    fn mac(&self, id: Uuid, attempt: i32, worker: &str) -> Option<Hmac<Sha256>> {
        // HMAC takes a key of any length: this fails for none.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(format!("{id}.{attempt}.{worker}").as_bytes());
        Some(mac)
    }
}

const PART: &str = "the completion tokens";

/// Reads the database's key and manages the [`CompletionTokens`]. No
/// tasks.
#[derive(Default)]
pub struct CompletionSigning;

impl CompletionSigning {
    async fn start(&self, rocket: &Rocket<Build>) -> Result<CompletionTokens, StartError> {
        let store = needs::<Store>(rocket, PART)?;
        let key = store
            .service_key(KEY_NAME)
            .await
            .map_err(|e| StartError::failed(PART, format!("cannot read their key: {}", Chain(&e))))?;
        Ok(CompletionTokens::new(&key))
    }
}

#[rocket::async_trait]
impl Fairing for CompletionSigning {
    fn info(&self) -> Info {
        Info {
            name: "Completion tokens",
            kind: Kind::Ignite,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        match self.start(&rocket).await {
            Ok(tokens) => Ok(rocket.manage(tokens)),
            Err(e) => Err(startup::failed(rocket, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(attempt: i32) -> ClaimToken {
        ClaimToken {
            id: Uuid::from_u128(7),
            worker: "123-abcdef01-w0".to_owned(),
            attempt,
        }
    }

    #[test]
    fn a_token_names_its_claim_for_its_operation_only() {
        let tokens = CompletionTokens::new(b"key");
        let token = tokens.mint(&claim(2));
        assert_eq!(tokens.verify(Uuid::from_u128(7), &token), Some(claim(2)));
        assert_eq!(tokens.verify(Uuid::from_u128(8), &token), None);
        assert_eq!(
            CompletionTokens::new(b"other").verify(Uuid::from_u128(7), &token),
            None
        );
        let other_attempt = token.replacen('2', "3", 1);
        assert_eq!(tokens.verify(Uuid::from_u128(7), &other_attempt), None);
        assert_eq!(tokens.verify(Uuid::from_u128(7), "nonsense"), None);
    }
}
