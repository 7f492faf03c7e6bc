//! Damaged files and read-only opens: a 0-byte file is refused (not reinitialised), a file
//! with several KB flipped in pages in use fails with a clear error (never a crash), a
//! read-only open modifies nothing, `check` reports damage without touching the file and
//! `repair` keeps a backup first; a truncated file is refused, not reinitialised.

use std::path::Path;
use std::time::Duration;

use session_core::{ScanQuery, Session, SessionId, SessionStore};
use session_redb::{RedbConfig, RedbStore};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn session(name: &str, kb: usize) -> Session {
    let mut s = Session::new(
        SessionId::new(name).unwrap(),
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    s.metadata.insert(
        "payload".into(),
        serde_json::Value::String(format!("{name}-").repeat(kb * 1024 / (name.len() + 1))),
    );
    s
}

/// A closed store of `n` sessions of about 2 KB each.
fn populated(path: &Path, n: usize) {
    let rt = rt();
    let store = RedbStore::open(path).unwrap();
    for i in 0..n {
        rt.block_on(store.insert(session(&format!("s-{i:04}"), 2)))
            .unwrap();
    }
    rt.block_on(store.flush()).unwrap();
}

fn fingerprint(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        std::fs::read(path).unwrap(),
        std::fs::metadata(path).unwrap().modified().unwrap(),
    )
}

/// Flips 4 KB at several places in the middle of the file (pages in use: the file holds
/// nothing but the sessions written).
fn flip(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let len = bytes.len();
    for at in [len / 5, len * 2 / 5, len / 2, len * 3 / 5, len * 4 / 5] {
        for b in &mut bytes[at..(at + 4096).min(len)] {
            *b ^= 0x5A;
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// Reads everything through `store`: the first error, if any.
fn read_everything(store: &RedbStore) -> Result<(), String> {
    let rt = rt();
    let query = ScanQuery {
        limit: 10_000,
        ..ScanQuery::default()
    };
    rt.block_on(store.scan(&query)).map_err(|e| e.to_string())?;
    for i in 0..200 {
        let id = SessionId::new(format!("s-{i:04}")).unwrap();
        rt.block_on(store.get(&id)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn an_existing_empty_file_is_refused_and_left_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    std::fs::write(&path, b"").unwrap();
    let err = RedbStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("empty (0-byte) file"), "{err}");
    let err = RedbStore::open_read_only(&path, RedbConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty (0-byte) file"), "{err}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

#[test]
fn a_read_only_open_reads_and_modifies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    populated(&path, 20);
    let before = fingerprint(&path);
    std::thread::sleep(Duration::from_millis(20)); // an mtime change would be visible
    {
        let store = RedbStore::open_read_only(&path, RedbConfig::default()).unwrap();
        let rt = rt();
        assert_eq!(rt.block_on(store.count()).unwrap(), 20);
        assert!(rt
            .block_on(store.get(&SessionId::new("s-0003").unwrap()))
            .unwrap()
            .is_some());
        let err = rt.block_on(store.insert(session("new", 1))).unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        rt.block_on(store.flush()).unwrap_err();
    }
    assert!(
        before == fingerprint(&path),
        "a read-only open changed the file"
    );
    // The probe can fail: a read-write open does change the file.
    drop(RedbStore::open(&path).unwrap());
    assert!(before != fingerprint(&path));
}

#[test]
fn a_missing_file_is_not_created_by_a_read_only_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.redb");
    let err = RedbStore::open_read_only(&path, RedbConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no redb store at"), "{err}");
    assert!(!path.exists());
}

#[test]
fn a_bit_flipped_file_fails_clearly_on_open_or_read_and_never_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    populated(&path, 200);
    flip(&path);
    let damaged = std::fs::read(&path).unwrap();
    // Read-write open with the integrity check (the server's): the check refuses it.
    let checked = RedbConfig {
        check_integrity_on_open: true,
        ..RedbConfig::default()
    };
    let err = RedbStore::open_with(&path, checked.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged") || err.contains("corrupt"), "{err}");
    // Read-only open with the check: the check (on a copy) refuses it before any read.
    let err = RedbStore::open_read_only(&path, checked)
        .unwrap_err()
        .to_string();
    assert!(err.contains("damaged"), "{err}");
    // Without that check, redb panics inside a read: the read fails clearly, no crash.
    let unchecked = RedbConfig {
        check_integrity_on_open: false,
        ..RedbConfig::default()
    };
    let outcome = RedbStore::open_read_only(&path, unchecked)
        .map_err(|e| e.to_string())
        .and_then(|store| read_everything(&store));
    let err = outcome.expect_err("reading a damaged file must fail");
    assert!(err.contains("damaged") || err.contains("corrupt"), "{err}");
    // `check` says so and does not touch the file.
    let report = session_redb::check(&path).unwrap();
    assert!(!report.ok && report.damage.is_some(), "{report:?}");
    assert!(std::fs::read(&path).unwrap() == damaged);
    // `repair` keeps a backup of the damaged file first; redb cannot repair bad pages.
    let err = session_redb::repair(&path).unwrap_err().to_string();
    assert!(err.contains("backup-"), "{err}");
    let backup = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".backup-"))
        .expect("a backup file");
    assert!(std::fs::read(backup).unwrap() == damaged);
}

#[test]
fn check_passes_a_sound_file_and_repair_of_it_keeps_a_backup_and_all_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    populated(&path, 30);
    let before = fingerprint(&path);
    let report = session_redb::check(&path).unwrap();
    assert!(report.ok && report.damage.is_none(), "{report:?}");
    assert_eq!(report.sessions, 30);
    assert!(before == fingerprint(&path), "check modified the file");
    let repaired = session_redb::repair(&path).unwrap();
    assert!(!repaired.recovered, "{repaired:?}");
    assert_eq!(std::fs::read(&repaired.backup).unwrap(), before.0);
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(rt().block_on(store.count()).unwrap(), 30);
}

#[test]
fn check_refuses_a_file_held_by_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let _held = RedbStore::open(&path).unwrap();
    let err = session_redb::check(&path).unwrap_err().to_string();
    assert!(err.contains("locked"), "{err}");
}

/// A file cut short (to half its length, and to its first 4 KiB) is never opened as an empty
/// store, never crashes a read, and is left as it was by a read-only open.
#[test]
fn a_truncated_file_fails_clearly_and_is_not_reinitialised() {
    for keep in [Keep::Half, Keep::FirstPage] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        populated(&path, 200);
        let len = std::fs::metadata(&path).unwrap().len();
        let cut = match keep {
            Keep::Half => len / 2,
            Keep::FirstPage => 4096,
        };
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let truncated = std::fs::read(&path).unwrap();
        // Read-only: an error, or every read either succeeds or fails clearly; the file
        // is untouched either way.
        match RedbStore::open_read_only(&path, RedbConfig::default()) {
            Err(e) => eprintln!("{keep:?}: read-only open refused: {e}"),
            Ok(store) => {
                if let Err(e) = read_everything(&store) {
                    eprintln!("{keep:?}: read failed: {e}");
                }
            }
        }
        assert!(
            std::fs::read(&path).unwrap() == truncated,
            "{keep:?}: modified"
        );
        // Read-write: refused, or it opens holding what survived — never an empty store
        // that silently replaced the sessions.
        match RedbStore::open(&path) {
            Err(e) => {
                let e = e.to_string();
                eprintln!("{keep:?}: open refused: {e}");
                assert!(e.contains("damaged") || e.contains("truncated"), "{e}");
            }
            Ok(store) => {
                let rt = rt();
                let count = rt.block_on(store.count()).map_err(|e| e.to_string());
                eprintln!("{keep:?}: opened, count {count:?}");
                assert!(
                    !matches!(count, Ok(0)),
                    "{keep:?}: a truncated store opened as empty"
                );
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Keep {
    Half,
    FirstPage,
}
