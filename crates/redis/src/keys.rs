//! Key names. Everything of one coupon (or one limiter) shares a hash tag, `{coupon:<id>}`,
//! so a script's keys live in one cluster slot. The deployment prefix goes before the
//! tag and therefore must not contain braces: a `{` in it would become the tag and put
//! every coupon in one slot.

use crate::error::SetupError;
use couponrush_domain::{CouponId, Username};
use std::net::IpAddr;

/// Rejects a prefix or name that would change which part of a key is the hash tag.
pub(crate) fn check_part(what: &'static str, part: &str) -> Result<(), SetupError> {
    if part.contains(['{', '}']) {
        return Err(SetupError::Invalid {
            what,
            why: format!("{part:?} contains a brace, which would change the key's hash tag"),
        });
    }
    Ok(())
}

const STOCK: &str = "stock";

/// The keys of one coupon's gate. Built on every gate call: two strings, nothing more.
pub(crate) struct CouponKeys {
    /// Integer: units left. Its existence is what "seeded" means.
    pub stock: String,
    /// Set of holders' user ids.
    pub holders: String,
}

impl CouponKeys {
    pub fn new(prefix: &str, coupon: CouponId) -> Self {
        Self {
            stock: format!("{prefix}{{coupon:{coupon}}}:{STOCK}"),
            holders: format!("{prefix}{{coupon:{coupon}}}:holders"),
        }
    }

    /// A set only one seeder writes, in the coupon's slot.
    pub fn staging(&self) -> String {
        let base = self.stock.strip_suffix(STOCK).unwrap_or(&self.stock);
        format!("{base}seeding:{}", uuid::Uuid::new_v4().simple())
    }
}

/// The keys of one coupon's waiting room, `<prefix>{room:<id>}:…`: a tag of their own
/// (not the gate's `{coupon:…}`), so a long line and its polls may sit on another
/// cluster master than the coupon's stock.
pub(crate) struct RoomKeys {
    /// Sorted set: user → order number (arrival, or drawn by the shuffle).
    pub line: String,
    /// Sorted set: waiting user → last heartbeat (ms).
    pub seen: String,
    /// Sorted set: admitted user → valid until (ms), kept a while after expiry.
    pub admitted: String,
    /// Hash: admitted user → when they joined the line (ms), until the poll that tells
    /// them (which reports the wait).
    pub joined: String,
    /// Hash: order counter, switch, rate, bounds, admission accounting and totals.
    pub state: String,
}

impl RoomKeys {
    pub fn new(prefix: &str, coupon: CouponId) -> Self {
        let base = format!("{prefix}{{room:{coupon}}}");
        Self {
            line: format!("{base}:line"),
            seen: format!("{base}:seen"),
            admitted: format!("{base}:admitted"),
            joined: format!("{base}:joined"),
            state: format!("{base}:state"),
        }
    }

    pub fn all(self) -> Vec<String> {
        vec![self.line, self.seen, self.admitted, self.joined, self.state]
    }
}

/// `<prefix>{ratelimit:<name>}`: the limiter's state, and its grants counter next to it.
pub(crate) fn rate_limit(prefix: &str, name: &str) -> (String, String) {
    let tat = format!("{prefix}{{ratelimit:{name}}}");
    let granted = format!("{tat}:granted");
    (tat, granted)
}

/// `<prefix>{auth-user:<hex of the username>}`: one username's failed logins. Hex
/// because a username may contain braces, which would move the hash tag.
pub(crate) fn auth_username(prefix: &str, username: &Username) -> String {
    use std::fmt::Write as _;
    let mut key = format!("{prefix}{{auth-user:");
    for b in username.as_str().bytes() {
        let _ = write!(key, "{b:02x}");
    }
    key.push('}');
    key
}

/// `<prefix>{auth-addr:<ip>}:<what>`: one client address's bucket.
pub(crate) fn auth_address(prefix: &str, client: IpAddr, what: &str) -> String {
    format!("{prefix}{{auth-addr:{client}}}:{what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        &key[open + 1..close]
    }

    #[test]
    fn a_coupons_keys_share_one_hash_tag() {
        let c = CouponId::new();
        let k = CouponKeys::new("app:", c);
        let want = format!("coupon:{c}");
        assert_eq!(tag(&k.stock), want);
        assert_eq!(tag(&k.holders), want);
        assert_eq!(tag(&k.staging()), want);
        assert!(k.stock.starts_with("app:{"));
    }

    #[test]
    fn a_rooms_keys_share_one_hash_tag() {
        let c = CouponId::new();
        let k = RoomKeys::new("app:", c);
        let want = format!("room:{c}");
        for key in [&k.line, &k.seen, &k.admitted, &k.state] {
            assert_eq!(tag(key), want);
            assert!(key.starts_with("app:{room:"));
        }
    }

    #[test]
    fn limiter_keys_share_one_hash_tag() {
        let (tat, granted) = rate_limit("", "db-writes");
        assert_eq!(tag(&tat), "ratelimit:db-writes");
        assert_eq!(tag(&granted), "ratelimit:db-writes");
    }

    #[test]
    fn a_username_with_braces_cannot_move_the_hash_tag() {
        let name = Username::parse("a{b}c").unwrap();
        let key = auth_username("p:", &name);
        assert_eq!(key, "p:{auth-user:617b627d63}");
        assert_eq!(tag(&key), "auth-user:617b627d63");
        let v6 = auth_address("p:", "::1".parse().unwrap(), "signups");
        assert_eq!(tag(&v6), "auth-addr:::1");
    }

    #[test]
    fn braces_in_a_prefix_are_refused() {
        assert!(check_part("key prefix", "a{b}:").is_err());
        assert!(check_part("key prefix", "").is_ok());
        assert!(check_part("key prefix", "prod:couponrush:").is_ok());
    }
}
