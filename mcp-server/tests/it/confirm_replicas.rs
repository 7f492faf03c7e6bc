//! Confirmations across replicas (issue 20): a 2026-07-28 client asked on one replica answers
//! on another (one shared --request-state-key-file), and the answer cannot be replayed on a
//! third, since the nonce is recorded in the session in the shared store. Without a shared
//! key the other replica refuses the answer and says to share the key. The replicas run with
//! --dry-run, so delete_session (asked in a dry run too) is the destructive tool used.

use super::*;

/// A 2026-07-28 `tools/call` with elicitation declared, on replica `n`: the JSON-RPC result.
fn call(cluster: &Cluster, n: usize, tool: &str, arguments: Value, extra: Value) -> Value {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientInfo": {"name": "confirm-replicas", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
    });
    let mut params = json!({"name": tool, "arguments": arguments, "_meta": meta});
    if let Value::Object(o) = extra {
        params.as_object_mut().unwrap().extend(o);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
    let headers = [
        ("MCP-Protocol-Version", STATELESS),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", tool),
    ];
    let reply = send(cluster.addr(n), "POST", &headers, &body.to_string());
    assert_eq!(reply.status, 200, "{tool} on replica {n}: {reply:?}");
    let messages = reply.messages();
    let Some(answer) = messages.iter().find(|m| m["id"] == json!(1)) else {
        panic!("{tool} on replica {n}: no answer in {reply:?}")
    };
    answer["result"].clone()
}

fn answer(state: &Value, yes: bool) -> Value {
    let response = if yes {
        json!({"action": "accept", "content": {"confirm": true}})
    } else {
        json!({"action": "decline"})
    };
    json!({"inputResponses": {"confirm": response}, "requestState": state})
}

fn kind(result: &Value) -> Value {
    assert_eq!(result["isError"], true, "{result}");
    result["structuredContent"]["error"]["kind"].clone()
}

fn started(cluster: &Cluster, session: &str) {
    let repo = cluster.repo.to_str().unwrap();
    let r = call(
        cluster,
        0,
        "start_workflow",
        json!({"session_id": session, "repo_path": repo}),
        json!({}),
    );
    assert_eq!(r["isError"], false, "{r}");
}

fn asked(cluster: &Cluster, n: usize, session: &str) -> Value {
    let r = call(
        cluster,
        n,
        "delete_session",
        json!({"session_id": session}),
        json!({}),
    );
    assert_eq!(r["resultType"], "input_required", "{r}");
    r["requestState"].clone()
}

#[test]
fn an_answer_works_on_another_replica_once_and_its_replay_is_refused_on_a_third() {
    let etcd = match Etcd::plain() {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("request-state.key");
    std::fs::write(&key, [5u8; 48]).unwrap();
    let key = key.display().to_string();
    let cluster = Cluster::start(&etcd, 3, &["--request-state-key-file", &key]);
    started(&cluster, "del");
    let args = json!({"session_id": "del"});
    // Asked on 0, declined on 1: nothing is deleted.
    let state = asked(&cluster, 0, "del");
    let r = call(
        &cluster,
        1,
        "delete_session",
        args.clone(),
        answer(&state, false),
    );
    assert_eq!(kind(&r), "confirmation_declined");
    // The same answer on 2 is a replay, refused from the nonce in the shared store.
    let r = call(
        &cluster,
        2,
        "delete_session",
        args.clone(),
        answer(&state, true),
    );
    assert_eq!(kind(&r), "confirmation_required");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("already used"), "{text}");
    assert!(cluster.stored("del").is_object(), "still there");
    // Asked again on 2, accepted on 0: deleted.
    let state = asked(&cluster, 2, "del");
    let r = call(&cluster, 0, "delete_session", args, answer(&state, true));
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["deleted"], true, "{r}");
}

#[test]
fn without_a_shared_key_another_replica_refuses_the_answer_and_says_to_share_it() {
    let etcd = match Etcd::plain() {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let cluster = Cluster::start(&etcd, 2, &[]);
    started(&cluster, "own");
    let state = asked(&cluster, 0, "own");
    let r = call(
        &cluster,
        1,
        "delete_session",
        json!({"session_id": "own"}),
        answer(&state, true),
    );
    assert_eq!(kind(&r), "confirmation_required");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("--request-state-key-file"), "{text}");
    assert!(cluster.stored("own").is_object(), "nothing was deleted");
}
