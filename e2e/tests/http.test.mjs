// The server over streamable HTTP, driven by the official TypeScript SDK client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { STEPS, call, callErr, connectHttp, makeRepo, scratch, startHttp } from './helpers.mjs';

test('streamable HTTP: bearer token, host check, a workflow, concurrent sessions, clean exit', async () => {
  const work = scratch();
  const token = 'secret-token-123';
  const { child, url, exited } = await startHttp({
    args: ['--store', 'redb', '--store-path', join(work, 's.redb'), '--workspace-dir', work, '--dry-run'],
    env: { MCP_AUTH_TOKEN: token },
  });
  try {
    // Without the token: 401.
    const denied = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    assert.equal(denied.status, 401);
    // A foreign Host header (DNS rebinding) is refused by rmcp's check. fetch cannot set
    // Host, so use node:http.
    const rebindingStatus = await new Promise((resolve, reject) => {
      const u = new URL(url);
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { host: 'evil.example', authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.ok(rebindingStatus >= 400, `foreign Host answered ${rebindingStatus}`);

    const { client } = await connectHttp(url, { authorization: `Bearer ${token}` });
    assert.equal(client.getServerVersion().name, 'container-kit-mcp');
    const { tools } = await client.listTools();
    assert.equal(tools.length, 20); // 18, plus validate_dockerfile and fix_dockerfile (issue #22)
    const repos = Array.from({ length: 5 }, (_, i) => makeRepo(work, `h-${i}`, 'python'));
    const runs = await Promise.all(repos.map((r, i) => call(client, 'start_workflow', { repo_path: r, session_id: `http-${i}`, run: true })));
    assert.ok(runs.every((r) => r.status === 'completed' && r.steps_run.length === STEPS.length));
    // The application session id is a tool argument: a second HTTP client sees the same session.
    const { client: other } = await connectHttp(url, { authorization: `Bearer ${token}` });
    const status = await call(other, 'workflow_status', { session_id: 'http-3' });
    assert.equal(status.progress_percent, 100);
    const bad = await callErr(other, 'workflow_status', { session_id: 'missing' });
    assert.match(bad.content[0].text, /not found/);
    await other.close();
    await client.close();
  } finally {
    child.kill('SIGTERM');
  }
  const { code } = await exited;
  assert.equal(code, 0, 'SIGTERM must end the server with status 0');
});
