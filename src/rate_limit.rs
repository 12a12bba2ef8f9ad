//! Requests per client: polling (GETs of an operation, its events, lists)
//! and writes (creating and cancelling) each have a rate and a burst. Over
//! it, 429 `RATE_LIMITED` with `Retry-After`.
//!
//! A client is the owner its token names (jwt mode), else its address:
//! the connection's peer, or — only when `trust_forwarded_for` is set,
//! behind a proxy that sets it — the first address of `X-Forwarded-For`.
//! Clients idle long enough to be back at a full burst are forgotten every
//! minute, so memory follows the number of recently active clients.

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::Status;
use rocket::request::{self, FromRequest, Request};
use rocket::{Build, Orbit, Rocket, Shutdown};

use crate::auth::{caller_of, Caller};
use crate::config::{AuthMode, RateLimitConfig};
use crate::supervise::{Supervisor, Ticks};

/// Whom a limit counts requests of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    Owner(Arc<str>),
    Address(IpAddr),
}

/// The limits of one kind of request, by client, on clock `C`.
type Limiter<C> =
    RateLimiter<Client, DefaultKeyedStateStore<Client>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The limiters of this process. Clones share them.
#[derive(Clone)]
pub struct RateLimits<C: Clock = DefaultClock> {
    poll: Option<Arc<Limiter<C>>>,
    create: Option<Arc<Limiter<C>>>,
    trust_forwarded_for: bool,
    /// jwt mode: a request with a token counts against its owner.
    by_owner: bool,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self::on_clock(config, &DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// The limits, timed by `clock`.
    fn on_clock(config: &RateLimitConfig, clock: &C) -> Self {
        let limiter = |per_second: u32, burst: u32| {
            let quota = Quota::per_second(NonZeroU32::new(per_second)?).allow_burst(NonZeroU32::new(burst)?);
            let limiter = RateLimiter::new(quota, DefaultKeyedStateStore::default(), C::clone(clock));
            config.enabled.then(|| Arc::new(limiter))
        };
        Self {
            poll: limiter(config.poll_per_second, config.poll_burst),
            create: limiter(config.create_per_second, config.create_burst),
            trust_forwarded_for: config.trust_forwarded_for,
            by_owner: false,
        }
    }

    /// The same, counting requests with a token against its owner.
    fn by_owner(self, by_owner: bool) -> Self {
        Self { by_owner, ..self }
    }

    fn client(&self, request: &Request<'_>) -> Client {
        if self.by_owner {
            if let Ok(Caller::Owner(sub) | Caller::Admin(sub)) = caller_of(request) {
                return Client::Owner(sub);
            }
        }
        Client::Address(self.address(request))
    }

    fn address(&self, request: &Request<'_>) -> IpAddr {
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

    /// Forgets clients back at a full burst; returns how many remain.
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
    fn limiter(limits: &RateLimits) -> Option<&Limiter<DefaultClock>>;
}

pub struct Polling;
pub struct Writing;

impl Limit for Polling {
    fn limiter(limits: &RateLimits) -> Option<&Limiter<DefaultClock>> {
        limits.poll.as_deref()
    }
}

impl Limit for Writing {
    fn limiter(limits: &RateLimits) -> Option<&Limiter<DefaultClock>> {
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

const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Manages the [`RateLimits`]; from liftoff, forgets idle addresses every
/// minute until shutdown.
pub struct RateLimiting {
    config: RateLimitConfig,
    by_owner: bool,
}

impl RateLimiting {
    pub fn new(config: &RateLimitConfig, auth: AuthMode) -> Self {
        RateLimiting {
            config: config.clone(),
            by_owner: auth == AuthMode::Jwt,
        }
    }
}

#[rocket::async_trait]
impl Fairing for RateLimiting {
    fn info(&self) -> Info {
        Info {
            name: "Rate limiting",
            kind: Kind::Ignite | Kind::Liftoff,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        Ok(rocket.manage(RateLimits::new(&self.config).by_owner(self.by_owner)))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let (Some(limits), Some(supervisor)) = (
            rocket.state::<RateLimits>().cloned(),
            rocket.state::<Supervisor>(),
        ) else {
            return;
        };
        let shutdown = rocket.shutdown();
        supervisor.spawn("forgetting idle addresses", move || {
            forget_idle(limits.clone(), shutdown.clone())
        });
    }
}

/// Forgets idle addresses every minute until shutdown.
async fn forget_idle(limits: RateLimits, shutdown: Shutdown) {
    let mut ticks = Ticks::every(FORGET_EVERY, shutdown);
    while ticks.next().await {
        limits.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn idle_addresses_are_forgotten_once_back_at_a_full_burst() {
        let config = RateLimitConfig {
            poll_per_second: 1000,
            poll_burst: 1,
            ..RateLimitConfig::default()
        };
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::on_clock(&config, &clock);
        let poll = limits
            .poll
            .as_deref()
            .unwrap_or_else(|| panic!("polling is limited"));
        for n in 0..10_000u32 {
            let _ = poll.check_key(&Client::Address(IpAddr::from(n.to_be_bytes())));
        }
        assert!(poll.len() >= 10_000);
        assert!(
            limits.forget_idle() >= 10_000,
            "nobody is back at a full burst yet"
        );

        clock.advance(Duration::from_millis(2));

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
