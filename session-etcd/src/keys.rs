//! The key layout of a store in etcd. Under the configured prefix `<prefix>`:
//!
//! - `<prefix>s/<id>` → the session's record (session-core's codec, header included);
//! - `<prefix>x/<expiry key>` → empty: the expiry index, ordered by expiry time, so
//!   `purge_expired` reads only what has expired;
//! - `<prefix>t/<id>` → a task's record (session-core's task codec, header included;
//!   `tasks.rs`);
//! - `<prefix>l/<id>` → a lock's holder (its lease id), under that lease;
//! - `<prefix>m/<name>` → a [`LeasedEntries`](crate::LeasedEntries) record, under its own lease
//!   (built in `leased.rs`).

use chrono::{DateTime, Utc};
use session_core::adapter::expiry_key;
use session_core::SessionId;

/// Builds every key of one store from its prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The start of every session key; a session's id is what follows it.
    pub(crate) fn sessions(&self) -> Vec<u8> {
        format!("{}s/", self.prefix).into_bytes()
    }

    /// The key of the session `id`'s record.
    pub(crate) fn session(&self, id: &str) -> Vec<u8> {
        let mut k = self.sessions();
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// The start of every expiry-index key.
    pub(crate) fn expiries(&self) -> Vec<u8> {
        format!("{}x/", self.prefix).into_bytes()
    }

    /// The expiry-index entry of session `id` expiring at `expires_at`.
    pub(crate) fn expiry(&self, expires_at: DateTime<Utc>, id: &SessionId) -> Vec<u8> {
        let mut k = self.expiries();
        k.extend_from_slice(&expiry_key(expires_at, id));
        k
    }

    /// The start of every task key; a task's id is what follows it.
    pub(crate) fn tasks(&self) -> Vec<u8> {
        format!("{}t/", self.prefix).into_bytes()
    }

    /// The key of task `id`'s record.
    pub(crate) fn task(&self, id: &str) -> Vec<u8> {
        let mut k = self.tasks();
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// The key of session `id`'s lock.
    pub(crate) fn lock(&self, id: &SessionId) -> Vec<u8> {
        format!("{}l/{id}", self.prefix).into_bytes()
    }
}

/// The `range_end` that makes a range cover every key starting with `prefix`: the prefix
/// with its last byte below 0xFF incremented (etcd's `WithPrefix`); `[0]` (to the end of
/// the keyspace) when there is none.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_store_share_its_prefix() {
        let keys = Keys::new("p/");
        let id = SessionId::new("abc").unwrap();
        assert_eq!(keys.session("abc"), b"p/s/abc");
        assert_eq!(keys.lock(&id), b"p/l/abc");
        assert_eq!(keys.task("t-1"), b"p/t/t-1");
        assert!(keys.task("t-1").starts_with(&keys.tasks()));
        assert!(keys.expiry(Utc::now(), &id).starts_with(b"p/x/"));
    }

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"p/s/"), b"p/s0");
        assert_eq!(prefix_end(&[b'a', 0xFF]), b"b");
        assert_eq!(prefix_end(&[0xFF, 0xFF]), [0]);
    }
}
