//! A small read-only reader of BoltDB (bbolt) files, enough to import the Go container-kit
//! server's session store: bucket `sessions`, key = session id, value = JSON `Session`.
//!
//! The layout, from bbolt's documented page format: the file is an array of pages
//! (`page_size` from the meta page). Pages 0 and 1 are meta pages; the valid one (magic,
//! version 2, FNV-1a checksum) with the higher transaction id names the root bucket's root
//! page. A page starts with `{id u64, flags u16, count u16, overflow u32}`; branch pages
//! (flag 0x01) hold `{pos u32, ksize u32, pgid u64}` elements, leaf pages (0x02) hold
//! `{flags u32, pos u32, ksize u32, vsize u32}` elements, with keys and values at `pos` from
//! the element. A leaf element with flag 0x01 is a sub-bucket: its value is
//! `{root pgid u64, sequence u64}`, followed by the bucket's own page when `root` is 0
//! (an inline bucket). Integers are little-endian (files written on amd64 and arm64).
//!
//! Why not a crate: `bbolt-rs` (1.3.10, a Rust port of bbolt) exists, but it brings clap,
//! fake, rand, tempfile and a dozen more as normal dependencies and has one maintainer; this
//! importer needs only to walk one bucket of a file, read-only. So this ~150-line reader,
//! tested on a file the Go bbolt library wrote (`tests/container-kit-sessions.db`). It never
//! writes.

use std::collections::HashSet;

use anyhow::{bail, ensure, Context};

const MAGIC: u32 = 0xED0C_DAED;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const BUCKET_LEAF: u32 = 0x01;
const PAGE_HEADER: usize = 16;

/// A bbolt file in memory.
pub(crate) struct BoltFile {
    data: Vec<u8>,
    page_size: usize,
    root: u64,
}

fn u16_at(b: &[u8], at: usize) -> anyhow::Result<u16> {
    let s = b.get(at..at + 2).context("bolt file truncated")?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> anyhow::Result<u32> {
    let s = b.get(at..at + 4).context("bolt file truncated")?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> anyhow::Result<u64> {
    let s = b.get(at..at + 8).context("bolt file truncated")?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A page as a slice: its header and body (the page may span overflow pages).
#[derive(Clone, Copy)]
struct Page<'a> {
    bytes: &'a [u8],
}

impl<'a> Page<'a> {
    fn flags(&self) -> anyhow::Result<u16> {
        u16_at(self.bytes, 8)
    }
    fn count(&self) -> anyhow::Result<usize> {
        Ok(usize::from(u16_at(self.bytes, 10)?))
    }
}

impl BoltFile {
    /// Parses the meta pages of `data`.
    pub(crate) fn parse(data: Vec<u8>) -> anyhow::Result<BoltFile> {
        let mut best: Option<(u64, usize, u64)> = None; // (txid, page_size, root)
                                                        // The first meta page tells the page size; try the common sizes for the second.
        let first_size = if data.len() >= 32 {
            u32_at(&data, 24).unwrap_or(4096) as usize
        } else {
            4096
        };
        for offset in [0usize, first_size] {
            let Some(meta) = data.get(offset..) else {
                continue;
            };
            if meta.len() < PAGE_HEADER + 64 || u16_at(meta, 8)? & META == 0 {
                continue;
            }
            let m = &meta[PAGE_HEADER..];
            if u32_at(m, 0)? != MAGIC || u32_at(m, 4)? != 2 {
                continue;
            }
            if fnv1a64(&m[..56]) != u64_at(m, 56)? {
                continue;
            }
            let (page_size, root, txid) = (u32_at(m, 8)? as usize, u64_at(m, 16)?, u64_at(m, 48)?);
            if best.is_none_or(|(t, _, _)| txid > t) {
                best = Some((txid, page_size, root));
            }
        }
        let Some((_, page_size, root)) = best else {
            bail!("not a BoltDB file: no valid meta page (magic 0xED0CDAED, version 2, checksum)");
        };
        ensure!(
            (512..=65536).contains(&page_size),
            "implausible bolt page size {page_size}"
        );
        Ok(BoltFile {
            data,
            page_size,
            root,
        })
    }

    fn page(&self, id: u64) -> anyhow::Result<Page<'_>> {
        let start = usize::try_from(id)?
            .checked_mul(self.page_size)
            .context("page id overflow")?;
        let head = self
            .data
            .get(start..start + PAGE_HEADER)
            .with_context(|| format!("page {id} lies beyond the end of the file"))?;
        let overflow = u32_at(head, 12)? as usize;
        let end = start + (overflow + 1) * self.page_size;
        let bytes = self
            .data
            .get(start..end.min(self.data.len()))
            .context("bolt file truncated")?;
        Ok(Page { bytes })
    }

    /// Every `(key, value)` of the top-level bucket `name`, in key order.
    pub(crate) fn bucket(&self, name: &[u8]) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut top = Vec::new();
        self.walk(Root::Page(self.root), &mut top, &mut HashSet::new())?;
        let (_, header, is_bucket) =
            top.into_iter()
                .find(|(k, _, _)| k == name)
                .with_context(|| {
                    format!(
                        "no bucket {:?} in the bolt file",
                        String::from_utf8_lossy(name)
                    )
                })?;
        ensure!(
            is_bucket,
            "{:?} is a key, not a bucket",
            String::from_utf8_lossy(name)
        );
        let root = u64_at(&header, 0)?;
        let mut out = Vec::new();
        let start = if root == 0 {
            Root::Inline(header[16..].to_vec())
        } else {
            Root::Page(root)
        };
        self.walk(start, &mut out, &mut HashSet::new())?;
        Ok(out
            .into_iter()
            .filter(|(_, _, b)| !b)
            .map(|(k, v, _)| (k, v))
            .collect())
    }

    /// Collects the leaf elements under `root`, in order: `(key, value, is_bucket)`.
    fn walk(
        &self,
        root: Root,
        out: &mut Vec<(Vec<u8>, Vec<u8>, bool)>,
        seen: &mut HashSet<u64>,
    ) -> anyhow::Result<()> {
        let inline;
        let page = match &root {
            Root::Page(id) => {
                ensure!(
                    seen.insert(*id),
                    "page {id} is referenced twice: the file is corrupt"
                );
                self.page(*id)?
            }
            Root::Inline(bytes) => {
                inline = bytes.clone();
                Page { bytes: &inline }
            }
        };
        let flags = page.flags()?;
        let count = page.count()?;
        let b = page.bytes;
        if flags & BRANCH != 0 {
            for i in 0..count {
                let el = PAGE_HEADER + i * 16;
                let child = u64_at(b, el + 8)?;
                self.walk(Root::Page(child), out, seen)?;
            }
        } else if flags & LEAF != 0 {
            for i in 0..count {
                let el = PAGE_HEADER + i * 16;
                let (eflags, pos, ksize, vsize) = (
                    u32_at(b, el)?,
                    u32_at(b, el + 4)? as usize,
                    u32_at(b, el + 8)? as usize,
                    u32_at(b, el + 12)? as usize,
                );
                let k_at = el + pos;
                let key = b
                    .get(k_at..k_at + ksize)
                    .context("leaf key beyond its page")?
                    .to_vec();
                let value = b
                    .get(k_at + ksize..k_at + ksize + vsize)
                    .context("leaf value beyond its page")?
                    .to_vec();
                out.push((key, value, eflags & BUCKET_LEAF != 0));
            }
        } else {
            bail!("page with flags {flags:#x} where a branch or leaf page was expected");
        }
        Ok(())
    }
}

enum Root {
    Page(u64),
    Inline(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_session_the_go_library_wrote() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/container-kit-sessions.db"
        ))
        .unwrap();
        let expected = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/container-kit-sessions.jsonl"
        ))
        .unwrap();
        let file = BoltFile::parse(data).unwrap();
        let sessions = file.bucket(b"sessions").unwrap();
        assert_eq!(sessions.len(), 60);
        for ((key, value), line) in sessions.iter().zip(expected.lines()) {
            let got: serde_json::Value = serde_json::from_slice(value).unwrap();
            let want: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(got, want);
            assert_eq!(got["id"].as_str().unwrap().as_bytes(), key.as_slice());
        }
    }

    #[test]
    fn rejects_what_is_not_bolt() {
        assert!(BoltFile::parse(b"hello".to_vec()).is_err());
        assert!(BoltFile::parse(vec![0u8; 8192]).is_err());
    }
}
