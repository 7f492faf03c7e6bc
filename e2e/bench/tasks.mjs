// Long steps as MCP tasks (issue 20): a measurement, not a test — it asserts nothing about
// time. A fake container engine whose first build sleeps --build-seconds (default 600).
//
//   CKM_BIN=target/debug/container-kit-mcp node e2e/bench/tasks.mjs --mode timeout
//       the official TypeScript client (1.32.2, no SEP-2663) calls build_image with its
//       defaults: what happens at its request timeout, and whether the build survives it
//       (--reset-on-progress: with the SDK's resetTimeoutOnProgress)
//   ... --mode task      a raw JSON-RPC client of protocol 2026-07-28 that declares the tasks
//       extension: the handle, polls of tasks/get at pollIntervalMs, until the result
//   ... --mode get [--replicas 3 --etcd http://127.0.0.1:2379] [--gets 2000]
//       tasks/get latency p50/p99 of one finished task, on one node (redb) or round robin
//       across replicas on one etcd
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BIN, makeRepo, scratch } from '../tests/helpers.mjs';

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const mode = flag('mode', 'task');
const buildSeconds = Number(flag('build-seconds', mode === 'get' ? '0' : '600'));
const replicas = Number(flag('replicas', '1'));
const etcd = flag('etcd', '');
const gets = Number(flag('gets', '2000'));

const dir = scratch('ckm-tasks-bench-');
const repo = makeRepo(dir, 'repo');
const pidfile = join(dir, 'pid');
const engine = join(dir, 'engine');
const marker = join(dir, 'first');
writeFileSync(engine, `#!/bin/sh\nif [ -e '${marker}' ]; then echo built; exit 0; fi\ntouch '${marker}'\necho $$ > '${pidfile}'\nexec sleep ${buildSeconds}\n`);
chmodSync(engine, 0o755);
const store = etcd
  ? ['--store', 'etcd', '--etcd-endpoints', etcd, '--etcd-prefix', `bench-${process.pid}-${Date.now()}/`]
  : ['--store', 'redb', '--store-path', join(dir, 's.redb')];
const env = { ...process.env, RUST_LOG: 'warn', MCP_WORKSPACE_DIR: dir, MCP_CONTAINER_ENGINE: engine };

function tool(...args) {
  const r = spawnSync(BIN, ['tool', ...args, ...store], { env });
  if (r.status !== 0) throw new Error(`tool ${args.join(' ')}: ${r.stderr}`);
}
tool('start_workflow', '--repo-path', repo, '--session-id', 'b');
tool('analyze_repository', '--repo-path', repo, '--session-id', 'b');
tool('generate_dockerfile', '--session-id', 'b');

async function server() {
  const child = spawn(BIN, ['serve', '--transport', 'http', '--listen', '127.0.0.1:0', ...store], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    child.stderr.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/\S+\/mcp)\n/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (c) => reject(new Error(`server exited ${c}: ${buf}`)));
  });
  return { child, url };
}

let nextId = 1;
async function rpc(url, method, params, name) {
  const id = nextId++;
  params._meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
  };
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method };
  if (name) headers['mcp-name'] = name;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
  const text = await res.text();
  const messages = [text, ...text.split('\n').map((l) => l.replace(/^data:/, '').trim())].flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
  const answer = messages.find((m) => m.id === id);
  if (!answer) throw new Error(`${method} on ${url}: HTTP ${res.status}, no answer in ${text}`);
  return answer;
}

const pct = (s, p) => s[Math.round((s.length - 1) * p)];
const alive = (pid) => { try { return !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; } };
const servers = [];
for (let i = 0; i < replicas; i++) servers.push(await server());
const url = servers[0].url;
const t0 = performance.now();
try {
  if (mode === 'timeout') {
    const client = new Client({ name: 'bench', version: '1' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    let outcome;
    try {
      // --reset-on-progress: the SDK's resetTimeoutOnProgress, which only helps if the step
      // reports progress more often than the timeout.
      const options = process.argv.includes('--reset-on-progress') ? { onprogress: () => {}, resetTimeoutOnProgress: true } : undefined;
      const r = await client.callTool({ name: 'build_image', arguments: { session_id: 'b' } }, undefined, options);
      outcome = `result after ${((performance.now() - t0) / 1000).toFixed(1)} s: isError=${r.isError}`;
    } catch (e) {
      outcome = `error after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${e.message}`;
    }
    await new Promise((r) => setTimeout(r, 2000));
    const pid = existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8')) : 0;
    console.log(JSON.stringify({ mode, buildSeconds, outcome, buildStillRunning2sLater: pid ? alive(pid) : null }));
    await client.close();
  } else {
    const handle = await rpc(url, 'tools/call', { name: 'build_image', arguments: { session_id: 'b' } }, 'build_image');
    const taskId = handle.result?.taskId;
    if (!taskId) throw new Error(`no task handle from ${url}: ${JSON.stringify(handle)}`);
    const handleMs = performance.now() - t0;
    let polls = 0;
    let task;
    for (;;) {
      task = (await rpc(url, 'tasks/get', { taskId }, taskId)).result;
      polls++;
      if (['completed', 'failed', 'cancelled'].includes(task.status)) break;
      await new Promise((r) => setTimeout(r, task.pollIntervalMs ?? 1000));
    }
    const doneS = (performance.now() - t0) / 1000;
    const out = { mode, buildSeconds, handleMs: +handleMs.toFixed(1), status: task.status, isError: task.result?.isError, totalSeconds: +doneS.toFixed(1), polls };
    if (mode === 'get') {
      const lat = [];
      for (let i = 0; i < gets; i++) {
        const target = servers[i % servers.length].url;
        const s = performance.now();
        const r = await rpc(target, 'tasks/get', { taskId }, taskId);
        lat.push(performance.now() - s);
        if (r.result?.status !== 'completed') throw new Error(`get ${i}: ${JSON.stringify(r)}`);
      }
      lat.sort((a, b) => a - b);
      Object.assign(out, { replicas, store: etcd ? 'etcd' : 'redb', gets, p50ms: +pct(lat, 0.5).toFixed(2), p99ms: +pct(lat, 0.99).toFixed(2) });
    }
    console.log(JSON.stringify(out));
  }
} finally {
  for (const s of servers) s.child.kill('SIGKILL');
  const pid = existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8')) : 0;
  if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
}
