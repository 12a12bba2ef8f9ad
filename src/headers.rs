//! Header lookups by a scan of the few headers a message carries.
//!
//! Rocket's `HeaderMap::get` hashes the name with SipHash one byte at a
//! time; on the poll path such lookups cost more than the poll's own work.
//! A request or response holds a handful of headers, and comparing their
//! names (length first) is far cheaper.

use std::borrow::Cow;

use rocket::http::HeaderMap;

/// The values of header `name`, in any case, in the order they came.
pub fn values<'h>(headers: &'h HeaderMap<'_>, name: &'static str) -> impl Iterator<Item = Cow<'h, str>> {
    headers
        .iter()
        .filter(move |header| header.name == name)
        .map(|header| header.value)
}

/// The first value of header `name`, in any case.
pub fn first<'h>(headers: &'h HeaderMap<'_>, name: &'static str) -> Option<Cow<'h, str>> {
    values(headers, name).next()
}

#[cfg(test)]
mod tests {
    use rocket::http::{Header, HeaderMap};

    #[test]
    fn names_match_in_any_case_and_values_keep_their_order() {
        let mut headers = HeaderMap::new();
        headers.add(Header::new("if-none-match", "\"a\""));
        headers.add(Header::new("IF-NONE-MATCH", "\"b\""));
        headers.add(Header::new("Prefer", "wait=5"));
        let found: Vec<_> = super::values(&headers, "If-None-Match").collect();
        assert_eq!(found, ["\"a\"", "\"b\""]);
        assert_eq!(super::first(&headers, "prefer").as_deref(), Some("wait=5"));
        assert_eq!(super::first(&headers, "Origin"), None);
    }
}
