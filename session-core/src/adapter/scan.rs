//! Paging for adapters: where an id-ordered scan starts and how a page is cut, shared so every
//! backend pages alike.

use std::ops::Bound;

use crate::{ScanPage, ScanQuery, Session, SessionId, StoreError, Versioned};

/// The adapter side of a [`ScanQuery`]: bring it into scope (`use
/// session_core::adapter::ScanQueryExt;`) to implement [`crate::SessionStore::scan`].
pub trait ScanQueryExt {
    /// Where a scan over ids in ascending order starts: after the cursor, or at the prefix,
    /// whichever is later.
    fn start_bound(&self) -> Bound<&str>;

    /// Builds one page from sessions in ascending id order that start at
    /// [`ScanQueryExt::start_bound`]: stops past the id prefix, applies the filters and the
    /// page size, and sets the cursor when more sessions follow. A `Corrupt` item is skipped
    /// with a warning (one unreadable session must not hide the others); any other error
    /// ends the scan.
    ///
    /// # Errors
    /// The first item's error that is not `Corrupt`.
    fn collect_page(
        &self,
        sorted: impl IntoIterator<Item = Result<Versioned<Session>, StoreError>>,
    ) -> Result<ScanPage, StoreError>;
}

impl ScanQueryExt for ScanQuery {
    fn start_bound(&self) -> Bound<&str> {
        match (&self.after, self.id_prefix.as_deref()) {
            (Some(after), Some(p)) if p > after.as_str() => Bound::Included(p),
            (Some(after), _) => Bound::Excluded(after.as_str()),
            (None, Some(p)) => Bound::Included(p),
            (None, None) => Bound::Unbounded,
        }
    }

    fn collect_page(
        &self,
        sorted: impl IntoIterator<Item = Result<Versioned<Session>, StoreError>>,
    ) -> Result<ScanPage, StoreError> {
        let limit = self.page_size();
        let mut items: Vec<Versioned<Session>> = Vec::new();
        let mut last_seen: Option<SessionId> = None;
        for item in sorted {
            let s = match item {
                Ok(s) => s,
                Err(StoreError::Corrupt { id, reason }) => {
                    tracing::warn!(session_id = %id, %reason, "scan skipped a corrupt record");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(p) = self.id_prefix.as_deref() {
                if !s.value.id.as_str().starts_with(p) {
                    break;
                }
            }
            if items.len() == limit {
                return Ok(ScanPage {
                    items,
                    next_cursor: last_seen,
                });
            }
            last_seen = Some(s.value.id.clone());
            if self.matches(&s.value) {
                items.push(s);
            }
        }
        Ok(ScanPage {
            items,
            next_cursor: None,
        })
    }
}
