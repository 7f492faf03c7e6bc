//! The adapter against a scripted stand-in for etcd's JSON gateway (no etcd needed): what it
//! does with answers a healthy etcd never gives, and how it classifies refusals by code.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use session_core::{Session, SessionId, SessionStore, StoreError, WriteOp};
use session_etcd::{EtcdConfig, EtcdStore};

/// A gateway on loopback that answers every request with `answer(path)` (HTTP status and
/// body), counting the requests, until the test process exits.
fn fake_gateway(
    answer: impl Fn(&str) -> (u16, String) + Send + 'static,
) -> (String, Arc<AtomicUsize>) {
    fake_gateway_seeing_tokens(move |path, _| answer(path))
}

/// As [`fake_gateway`], with the request's `Authorization` header given to `answer` too.
fn fake_gateway_seeing_tokens(
    answer: impl Fn(&str, Option<&str>) -> (u16, String) + Send + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
            let mut length = 0;
            let mut token = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap();
                    }
                    if name.eq_ignore_ascii_case("authorization") {
                        token = Some(value.trim().to_owned());
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answer(&path, token.as_deref());
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, requests)
}

fn store(url: &str) -> EtcdStore {
    let config = EtcdConfig {
        deadline: Duration::from_millis(300),
        ..EtcdConfig::default()
    };
    EtcdStore::new([url], config).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_unreadable_fence_revision_is_an_error_not_token_zero() {
    let (url, _) = fake_gateway(|path| match path {
        "/v3/lease/grant" => (
            200,
            r#"{"header":{"revision":"1"},"ID":"7","TTL":"10"}"#.into(),
        ),
        _ => (
            200,
            r#"{"header":{"revision":"soon"},"succeeded":true}"#.into(),
        ),
    });
    let store = store(&url);
    let locks = store.shared_locks().unwrap();
    let id = SessionId::new("fenced").unwrap();
    let err = rt()
        .block_on(locks.acquire(&id, Duration::from_secs(1)))
        .map(|h| h.fence().token)
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("\"soon\""), "{err}");
}

#[test]
fn a_key_read_without_its_revision_is_an_error() {
    let (url, _) = fake_gateway(|_| {
        (200, r#"{"header":{"revision":"3"},"kvs":[{"key":"YQ==","create_revision":"2","value":""}],"count":"1"}"#.into())
    });
    let err = rt()
        .block_on(store(&url).get(&SessionId::new("a").unwrap()))
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("mod_revision"), "{err}");
}

#[test]
fn a_refusal_with_a_final_code_is_not_retried() {
    let (url, requests) = fake_gateway(|_| {
        let message = "etcdserver: too many operations in txn request";
        (
            400,
            format!(r#"{{"error":"{message}","message":"{message}","code":3}}"#),
        )
    });
    let session = Session::new(
        SessionId::new("a").unwrap(),
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    let err = rt()
        .block_on(store(&url).apply(vec![WriteOp::Insert(session)]))
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("etcd refused /v3/kv/txn: etcdserver: too many operations"),
        "{err}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[test]
fn a_refusal_with_a_transient_code_is_retried_until_the_deadline() {
    let (url, requests) = fake_gateway(|_| {
        let message = "etcdserver: no leader";
        (
            503,
            format!(r#"{{"error":"{message}","message":"{message}","code":14}}"#),
        )
    });
    let err = rt().block_on(store(&url).count()).unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(
        err.to_string().contains("no leader (gave up after"),
        "{err}"
    );
    assert!(requests.load(Ordering::SeqCst) > 1);
}

#[test]
fn a_lock_waiter_polls_when_the_watch_is_refused() {
    // The lock is held for the first three txns; the gateway refuses every watch.
    let txns = Arc::new(AtomicUsize::new(0));
    let (seen_txns, watches) = (Arc::clone(&txns), Arc::new(AtomicUsize::new(0)));
    let seen_watches = Arc::clone(&watches);
    let (url, _) = fake_gateway(move |path| match path {
        "/v3/lease/grant" => (
            200,
            r#"{"header":{"revision":"1"},"ID":"7","TTL":"10"}"#.into(),
        ),
        "/v3/watch" => {
            seen_watches.fetch_add(1, Ordering::SeqCst);
            (404, "Not Found".into())
        }
        _ => {
            let n = seen_txns.fetch_add(1, Ordering::SeqCst);
            let won = n >= 3;
            (
                200,
                format!(
                    r#"{{"header":{{"revision":"{}"}},"succeeded":{won}}}"#,
                    10 + n
                ),
            )
        }
    });
    let store = store(&url);
    let locks = store.shared_locks().unwrap();
    let id = SessionId::new("watched").unwrap();
    let handle = rt()
        .block_on(locks.acquire(&id, Duration::from_secs(2)))
        .unwrap();
    assert_eq!(handle.fence().token, 13);
    assert_eq!(txns.load(Ordering::SeqCst), 4);
    assert_eq!(
        watches.load(Ordering::SeqCst),
        3,
        "one watch per held round"
    );
    std::mem::forget(handle); // its release would go to the fake after the runtime is gone
}

/// A member that answers with its own token, and refuses every other one as etcd does.
fn member(name: &'static str, authentications: Arc<AtomicUsize>) -> String {
    let (url, _) = fake_gateway_seeing_tokens(move |path, token| {
        let refuse = |message: &str, code: u8, status: u16| {
            (
                status,
                format!(r#"{{"error":"{message}","message":"{message}","code":{code}}}"#),
            )
        };
        match (path, token) {
            ("/v3/auth/authenticate", _) => {
                authentications.fetch_add(1, Ordering::SeqCst);
                (
                    200,
                    format!(r#"{{"header":{{"revision":"1"}},"token":"{name}.1"}}"#),
                )
            }
            // The first member loses its leader: the client moves to the next member.
            (_, Some(_)) if name == "a" => refuse("etcdserver: no leader", 14, 503),
            (_, Some(t)) if t == format!("{name}.1") => {
                (200, r#"{"header":{"revision":"1"},"count":"0"}"#.into())
            }
            (_, Some(_)) => refuse("etcdserver: invalid auth token", 16, 401),
            (_, None) => refuse("etcdserver: user name is empty", 3, 400),
        }
    });
    url
}

#[test]
fn a_client_authenticates_again_at_the_member_it_moves_to() {
    let (at_a, at_b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let urls = [
        member("a", Arc::clone(&at_a)),
        member("b", Arc::clone(&at_b)),
    ];
    let config = EtcdConfig {
        deadline: Duration::from_secs(2),
        auth: Some(session_etcd::EtcdAuth {
            user: "u".into(),
            password: "p".into(),
        }),
        ..EtcdConfig::default()
    };
    let store = EtcdStore::new(urls, config).unwrap();
    assert_eq!(rt().block_on(store.count()).unwrap(), 0);
    assert_eq!(at_a.load(Ordering::SeqCst), 1);
    assert_eq!(at_b.load(Ordering::SeqCst), 1, "b's own token was fetched");
}
