//! Calls this service makes to URLs it was given (webhooks, callbacks, the
//! targets of `http` operation types): one HTTP client that follows no
//! redirects, uses no proxy and, unless `allow_private_targets` is set,
//! connects only to public addresses. The check is made on the addresses a
//! name resolves to, which are the only ones the client may connect to, so
//! a name that resolves to a private address (or is made to, between a
//! check and a call) is refused too. What is sent is signed as Standard
//! Webhooks signs it ([`sign`]).

mod signature;

use std::error::Error;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

pub use signature::sign;

/// The longest URL taken.
pub const MAX_URL_BYTES: usize = 2048;

/// Why a URL is not a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfitTarget(pub &'static str);

impl fmt::Display for UnfitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Error for UnfitTarget {}

/// The refusal of a target on a private address: never retried, as no
/// later attempt would be let through.
pub const PRIVATE_TARGET: UnfitTarget = UnfitTarget(
    "resolves to a loopback, private, link-local or metadata address (allow_private_targets is off)",
);

/// `url` as a target: http or https, no credentials in it, at most
/// [`MAX_URL_BYTES`], and (unless `allow_private`) not naming a private
/// address or `localhost` outright. A name is checked again on each call,
/// on what it resolves to.
pub fn check_url(url: &str, allow_private: bool) -> Result<Url, UnfitTarget> {
    if url.len() > MAX_URL_BYTES {
        return Err(UnfitTarget("is longer than 2048 bytes"));
    }
    let parsed = Url::parse(url).map_err(|_| UnfitTarget("is not an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UnfitTarget("must be an http or https URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UnfitTarget("must not hold credentials"));
    }
    let private = match parsed.host() {
        None => return Err(UnfitTarget("has no host")),
        Some(url::Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    match private && !allow_private {
        true => Err(PRIVATE_TARGET),
        false => Ok(parsed),
    }
}

/// Addresses a call must not reach unless private targets are allowed:
/// loopback, private and shared (CGNAT) ranges, link-local (where cloud
/// metadata services answer), unique-local, unspecified, multicast and
/// broadcast, and the same written as IPv4-mapped IPv6.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_private_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(ip),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// The client for calls to given URLs: `timeout` per call, no redirects,
/// no proxy, and public addresses only unless `allow_private`. Cheap to
/// clone.
#[derive(Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
    allow_private: bool,
}

impl OutboundClient {
    pub fn new(timeout: Duration, allow_private: bool) -> reqwest::Result<Self> {
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("longrun/", env!("CARGO_PKG_VERSION")));
        let client = match allow_private {
            true => builder.build()?,
            false => builder.dns_resolver(Arc::new(PublicAddresses)).build()?,
        };
        Ok(OutboundClient {
            client,
            allow_private,
        })
    }

    /// A POST to `url`, unless it is not a target. An address written in
    /// the URL is checked here (the client resolves no name for it); a
    /// name, on the addresses it resolves to when the request is sent.
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, UnfitTarget> {
        let url = check_url(url, self.allow_private)?;
        Ok(self.client.post(url))
    }
}

/// Whether a failed call was refused because its target is private.
pub fn refused_as_private(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.downcast_ref::<UnfitTarget>().is_some() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Resolves names to their public addresses only; a name with none is
/// refused.
struct PublicAddresses;

impl Resolve for PublicAddresses {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = rocket::tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = resolved.filter(|address| !is_private(address.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(PRIVATE_TARGET) as Box<dyn Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_told_apart() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = private.parse().unwrap_or_else(|e| panic!("{private}: {e}"));
            assert!(is_private(ip), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            let ip: IpAddr = public.parse().unwrap_or_else(|e| panic!("{public}: {e}"));
            assert!(!is_private(ip), "{public}");
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert_eq!(
            check_url("http://127.0.0.1:9000/hook", false),
            Err(PRIVATE_TARGET)
        );
        assert_eq!(check_url("http://localhost/hook", false), Err(PRIVATE_TARGET));
        assert_eq!(check_url("http://[::1]/hook", false), Err(PRIVATE_TARGET));
        assert!(check_url("ftp://example.com/", false).is_err());
        assert!(check_url("https://user:pw@example.com/", false).is_err());
        assert!(check_url("/relative", false).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(check_url(&long, false).is_err());
    }
}
