//! Tasks on etcd against a scripted gateway (no etcd needed): a guard broken by another
//! writer is re-read and judged by the version rule; a damaged record is `TaskCorrupt`. (The contract itself runs against a real etcd in the conformance suite.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use session_core::adapter::encode_task_record;
use session_core::{SessionStore, StoreError, TaskId, TaskRecord, TaskStore, Version};
use session_etcd::{EtcdConfig, EtcdStore};

/// A gateway on loopback answering request number n (from 0) on `path` with
/// `answer(n, path)`, and recording the paths asked.
fn scripted(
    answer: impl Fn(usize, &str) -> String + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split(' ').nth(1).unwrap_or("").to_owned();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let n = {
                let mut log = log.lock().unwrap();
                log.push(path.clone());
                log.len() - 1
            };
            let body = answer(n, &path);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, seen)
}

fn tasks_at(url: &str) -> (EtcdStore, Arc<dyn TaskStore>) {
    let config = EtcdConfig {
        deadline: Duration::from_millis(300),
        prefix: "p/".into(),
        ..EtcdConfig::default()
    };
    let store = EtcdStore::new([url], config).unwrap();
    let tasks = store.tasks().unwrap();
    (store, tasks)
}

fn task() -> TaskRecord {
    let at = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap();
    TaskRecord::new(
        TaskId::new("t1").unwrap(),
        "deploy_application",
        at,
        60_000,
        500,
    )
}

fn kv(value: &[u8], revision: u32) -> String {
    format!(
        r#"{{"header":{{"revision":"{revision}"}},"kvs":[{{"key":"{}","create_revision":"{revision}","mod_revision":"{revision}","value":"{}"}}],"count":"1"}}"#,
        B64.encode(b"p/t/t1"),
        B64.encode(value)
    )
}

const ABSENT: &str = r#"{"header":{"revision":"5"}}"#;
const GUARD_FAILED: &str = r#"{"header":{"revision":"6"}}"#;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_insert_beaten_by_another_writer_is_task_exists() {
    let mut theirs = task();
    theirs.tool = "push_image".into();
    let theirs = encode_task_record(Version::FIRST, &theirs).unwrap();
    let (url, _) = scripted(move |n, _| match n {
        0 => ABSENT.into(),
        1 => GUARD_FAILED.into(),
        _ => kv(&theirs, 6),
    });
    let (_store, tasks) = tasks_at(&url);
    let err = rt().block_on(tasks.put_task(None, task())).unwrap_err();
    assert!(
        matches!(err, StoreError::TaskExists(ref id) if id == "t1"),
        "{err:?}"
    );
}

#[test]
fn a_damaged_task_record_is_task_corrupt() {
    let mut bytes = encode_task_record(Version::FIRST, &task()).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x10;
    let (url, _) = scripted(move |_, _| kv(&bytes, 3));
    let (_store, tasks) = tasks_at(&url);
    let err = rt()
        .block_on(tasks.get_task(&TaskId::new("t1").unwrap()))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TaskCorrupt { ref id, .. } if id == "t1"),
        "{err:?}"
    );
}
