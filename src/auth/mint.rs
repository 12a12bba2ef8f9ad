//! `longrun token <sub>`: a token for trying the service out in `jwt`
//! mode, signed with the HS256 secret of `LONGRUN_JWT_SECRET` and carrying
//! the configured issuer and audience.

use std::process::ExitCode;

use jsonwebtoken::{encode, get_current_timestamp, EncodingKey, Header};
use rocket::figment::Figment;
use rocket::serde::Serialize;

use crate::config::{AuthConfig, JWT_SECRET_VARIABLE};

const USAGE: &str = "usage: longrun token <sub> [--admin] [--ttl-secs N]";

/// A day: long enough to try things, short enough to be thrown away.
const DEFAULT_TTL_SECS: u64 = 86_400;

#[derive(Serialize)]
#[serde(crate = "rocket::serde")]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// What the command was asked for.
struct Request {
    sub: String,
    admin: bool,
    ttl_secs: u64,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Request, String> {
    let sub = args.next().filter(|sub| !sub.starts_with('-')).ok_or(USAGE)?;
    let mut request = Request {
        sub,
        admin: false,
        ttl_secs: DEFAULT_TTL_SECS,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--admin" => request.admin = true,
            "--ttl-secs" => {
                request.ttl_secs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--ttl-secs takes a whole number of seconds")?
            }
            _ => return Err(USAGE.to_owned()),
        }
    }
    Ok(request)
}

/// A token for `sub` from `secret`, valid for `ttl_secs`, with the admin
/// scope if `admin`.
pub fn mint(
    config: &AuthConfig,
    secret: &str,
    sub: &str,
    admin: bool,
    ttl_secs: u64,
) -> Result<String, String> {
    let now = get_current_timestamp();
    let claims = Claims {
        sub,
        exp: now.saturating_add(ttl_secs),
        iat: now,
        scope: admin.then_some(config.admin_scope.as_str()),
        iss: config.issuer.as_deref(),
        aud: config.audience.as_deref(),
    };
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| e.to_string())
}

/// Runs the command: the token on standard output, or one line on
/// standard error and exit status 1.
pub fn run(figment: &Figment, args: impl Iterator<Item = String>) -> ExitCode {
    let minted = parse(args).and_then(|request| {
        let config: AuthConfig = figment
            .focus(AuthConfig::KEY)
            .extract()
            .map_err(|e| format!("invalid setting under {}: {e}", AuthConfig::KEY))?;
        let secret = std::env::var(JWT_SECRET_VARIABLE)
            .ok()
            .filter(|secret| !secret.is_empty())
            .ok_or_else(|| format!("set {JWT_SECRET_VARIABLE} to the secret the service verifies with"))?;
        mint(&config, &secret, &request.sub, request.admin, request.ttl_secs)
    });
    match minted {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("longrun token: {reason}");
            ExitCode::FAILURE
        }
    }
}
