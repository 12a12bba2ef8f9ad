//! Requests per client address: polling (GETs of an operation and its
//! events) and writes (creating and cancelling) each have a rate and a
//! burst. Over it, 429 `RATE_LIMITED` with `Retry-After`.
//!
//! The address is the connection's peer, or — only when
//! `trust_forwarded_for` is set, behind a proxy that sets it — the first
//! address of `X-Forwarded-For`. Addresses idle long enough to be back at
//! a full burst are forgotten every minute, so memory follows the number of
//! recently active clients.

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::Status;
use rocket::request::{self, FromRequest, Request};
use rocket::serde::Deserialize;
use rocket::tokio::{self, time};
use rocket::{Build, Orbit, Rocket};

use crate::config::OperationsConfig;

/// `operations.rate_limit`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "rocket::serde", default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub poll_per_second: u32,
    pub poll_burst: u32,
    pub create_per_second: u32,
    pub create_burst: u32,
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_per_second: 10,
            poll_burst: 20,
            create_per_second: 2,
            create_burst: 10,
            trust_forwarded_for: false,
        }
    }
}

/// The limiters of this process. Clones share them.
#[derive(Clone)]
pub struct RateLimits {
    poll: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    create: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    trust_forwarded_for: bool,
}

fn limiter(per_second: u32, burst: u32) -> Option<Arc<DefaultKeyedRateLimiter<IpAddr>>> {
    let quota = Quota::per_second(NonZeroU32::new(per_second)?).allow_burst(NonZeroU32::new(burst)?);
    Some(Arc::new(DefaultKeyedRateLimiter::keyed(quota)))
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        let enabled = |limiter: Option<_>| limiter.filter(|_| config.enabled);
        Self {
            poll: enabled(limiter(config.poll_per_second, config.poll_burst)),
            create: enabled(limiter(config.create_per_second, config.create_burst)),
            trust_forwarded_for: config.trust_forwarded_for,
        }
    }

    fn client(&self, request: &Request<'_>) -> IpAddr {
        let forwarded = self
            .trust_forwarded_for
            .then(|| request.headers().get_one("X-Forwarded-For"))
            .flatten()
            .and_then(|list| list.split(',').next())
            .and_then(|first| first.trim().parse().ok());
        forwarded
            .or_else(|| request.remote().map(|peer| peer.ip()))
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// Forgets addresses back at a full burst; returns how many remain.
    pub fn forget_idle(&self) -> usize {
        [&self.poll, &self.create]
            .into_iter()
            .flatten()
            .map(|limiter| {
                limiter.retain_recent();
                limiter.shrink_to_fit();
                limiter.len()
            })
            .sum()
    }
}

/// Which limit a route counts against.
pub trait Limit: Send + Sync + 'static {
    fn limiter(limits: &RateLimits) -> Option<&DefaultKeyedRateLimiter<IpAddr>>;
}

pub struct Polling;
pub struct Writing;

impl Limit for Polling {
    fn limiter(limits: &RateLimits) -> Option<&DefaultKeyedRateLimiter<IpAddr>> {
        limits.poll.as_deref()
    }
}

impl Limit for Writing {
    fn limiter(limits: &RateLimits) -> Option<&DefaultKeyedRateLimiter<IpAddr>> {
        limits.create.as_deref()
    }
}

/// A request guard that lets the request through if its client is within
/// limit `L`; otherwise fails with 429, leaving the wait for the catcher.
pub struct Within<L: Limit>(PhantomData<L>);

/// Seconds until the limited client may try again, for `Retry-After`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryAfter(pub Option<u64>);

#[rocket::async_trait]
impl<'r, L: Limit> FromRequest<'r> for Within<L> {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, ()> {
        let Some(limits) = request.rocket().state::<RateLimits>() else {
            return request::Outcome::Success(Within(PhantomData));
        };
        let Some(limiter) = L::limiter(limits) else {
            return request::Outcome::Success(Within(PhantomData));
        };
        match limiter.check_key(&limits.client(request)) {
            Ok(()) => request::Outcome::Success(Within(PhantomData)),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                request.local_cache(|| RetryAfter(Some(seconds.max(1))));
                request::Outcome::Error((Status::TooManyRequests, ()))
            }
        }
    }
}

/// Manages the [`RateLimits`] and forgets idle addresses every minute.
pub struct RateLimiting;

const FORGET_EVERY: Duration = Duration::from_secs(60);

#[rocket::async_trait]
impl Fairing for RateLimiting {
    fn info(&self) -> Info {
        Info {
            name: "Rate limiting",
            kind: Kind::Ignite | Kind::Liftoff,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let Some(config) = rocket.state::<OperationsConfig>() else {
            return Err(rocket);
        };
        let limits = RateLimits::new(&config.rate_limit);
        Ok(rocket.manage(limits))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Some(limits) = rocket.state::<RateLimits>().cloned() else {
            return;
        };
        let mut shutdown = rocket.shutdown();
        tokio::spawn(async move {
            let mut ticks = time::interval(FORGET_EVERY);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        limits.forget_idle();
                    }
                    _ = &mut shutdown => break,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_addresses_are_forgotten_once_back_at_a_full_burst() {
        let config = RateLimitConfig {
            poll_per_second: 1000,
            poll_burst: 1,
            ..RateLimitConfig::default()
        };
        let limits = RateLimits::new(&config);
        let poll = limits
            .poll
            .as_deref()
            .unwrap_or_else(|| panic!("polling is limited"));
        for n in 0..10_000u32 {
            let _ = poll.check_key(&IpAddr::from(n.to_be_bytes()));
        }
        assert!(poll.len() >= 10_000);

        std::thread::sleep(Duration::from_millis(20));

        assert_eq!(limits.forget_idle(), 0, "every address is back at a full burst");
    }

    #[test]
    fn a_disabled_limit_limits_nothing() {
        let limits = RateLimits::new(&RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        });
        assert!(limits.poll.is_none() && limits.create.is_none());
    }
}
