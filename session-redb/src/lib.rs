//! SessionStore on redb.
