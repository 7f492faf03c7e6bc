//! SessionStore on sled. Not implemented yet: see the session-sled issue.
