// The server over stdio, driven by the official TypeScript SDK client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, realpathSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, STEPS, call, callErr, connectStdio, makeRepo, scratch } from './helpers.mjs';

function serverArgs(work, extra = []) {
  return ['--store', 'redb', '--store-path', join(work, 'sessions.redb'), '--workspace-dir', work, '--dry-run', ...extra];
}

test('initialize and tools/list: every tool has input and output schemas', async () => {
  const work = scratch();
  const { client } = await connectStdio({ args: serverArgs(work) });
  try {
    const info = client.getServerVersion();
    assert.equal(info.name, 'container-kit-mcp');
    const { tools } = await client.listTools();
    assert.equal(tools.length, 20); // 18, plus validate_dockerfile and fix_dockerfile (issue #22)
    for (const t of tools) {
      assert.equal(t.inputSchema.type, 'object', t.name);
      assert.equal(t.outputSchema?.type, 'object', t.name);
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    for (const name of STEPS) assert.ok(byName[name], name);
    assert.equal(byName.workflow_status.annotations?.readOnlyHint, true);
    assert.equal(byName.build_image.annotations?.readOnlyHint, false);
    assert.deepEqual(byName.analyze_repository.inputSchema.required.sort(), ['repo_path', 'session_id']);
  } finally {
    await client.close();
  }
});

test('a full dry-run workflow with progress notifications', async () => {
  const work = scratch();
  const repo = makeRepo(work, 'shop', 'node');
  const { client } = await connectStdio({ args: serverArgs(work) });
  try {
    const progress = [];
    const out = await call(client, 'start_workflow', { repo_path: repo, run: true }, { onprogress: (p) => progress.push(p) });
    assert.equal(out.status, 'completed');
    assert.deepEqual(out.steps_run, STEPS);
    assert.ok(progress.length >= 10, `only ${progress.length} progress notifications`);
    // The MCP specification: the progress of one token increases with every notification.
    for (let i = 1; i < progress.length; i++) {
      assert.ok(progress[i].progress > progress[i - 1].progress,
        `progress went from ${progress[i - 1].progress} to ${progress[i].progress}`);
      assert.equal(progress[i].total, progress[0].total);
    }
    // rmcp 3.11 sends responses and notifications through two channels that its loop drains
    // in no fixed order, so the last notification may arrive after the result, when the
    // client no longer listens for it: the last value seen is at most the total.
    assert.ok(progress.at(-1).progress <= progress.at(-1).total);
    assert.ok(progress.at(-1).progress >= progress.at(-1).total - 1,
      `the last progress seen is ${progress.at(-1).progress} of ${progress.at(-1).total}`);
    const status = await call(client, 'workflow_status', { session_id: out.session_id });
    assert.equal(status.progress_percent, 100);
    assert.ok(status.steps.every((s) => s.status === 'completed'));
    // A single step also reports progress when asked.
    const stepProgress = [];
    await call(client, 'build_image', { session_id: out.session_id }, { onprogress: (p) => stepProgress.push(p) });
    // 0 when it starts and 1 when it is done (the 1 may arrive after the result: see above).
    const seen = stepProgress.map((p) => p.progress);
    assert.ok(seen.length === 2 ? seen[0] === 0 && seen[1] === 1 : seen.length === 1 && seen[0] === 0,
      `a single step reported ${JSON.stringify(seen)}`);
  } finally {
    await client.close();
  }
});

test('20 concurrent workflows and concurrent steps on one session lose nothing', async () => {
  const work = scratch();
  const langs = ['node', 'python', 'go', 'java'];
  const repos = Array.from({ length: 20 }, (_, i) => makeRepo(work, `app-${i}`, langs[i % langs.length]));
  const { client } = await connectStdio({ args: serverArgs(work) });
  try {
    const results = await Promise.all(repos.map((repo, i) => call(client, 'start_workflow', { repo_path: repo, session_id: `wf-${i}`, run: true })));
    assert.ok(results.every((r) => r.status === 'completed'));
    // All ten step tools at once on one session, three rounds.
    const shared = 'wf-0';
    for (let round = 0; round < 3; round++) {
      await Promise.all(STEPS.map((name) => call(client, name, name === 'analyze_repository' ? { session_id: shared, repo_path: repos[0] } : name === 'tag_image' ? { session_id: shared, tag: 'v2' } : { session_id: shared })));
    }
    const s = await call(client, 'get_session', { session_id: shared });
    assert.equal(s.session.metadata.workflow_state.metadata.step_runs, 40);
    // One create, one init, forty step records. Push, prepare and deploy ran four times each
    // in a dry run: their twelve skipped confirmations ride those steps' own updates.
    assert.equal(s.version, 42);
    const skips = s.session.metadata.workflow_state.metadata.confirmations;
    assert.equal(skips.length, 12);
    assert.ok(skips.every((c) => c.decision === 'skipped' && c.reason === 'dry_run'));
    const status = await call(client, 'workflow_status', { session_id: shared });
    assert.equal(status.progress_percent, 100);
  } finally {
    await client.close();
  }
});

test('bad input is answered with errors and the server keeps serving', async () => {
  const work = scratch();
  const outside = scratch('ckm-outside-');
  const allowedByClient = scratch('ckm-root-');
  const repo = makeRepo(work, 'ok', 'python');
  const clientRepo = makeRepo(allowedByClient, 'theirs', 'go');
  const elsewhere = makeRepo(outside, 'nope', 'go');
  const { client } = await connectStdio({ args: serverArgs(work), roots: [allowedByClient] });
  try {
    await call(client, 'start_workflow', { repo_path: repo, session_id: 'good' });
    await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), /unknown tool/);
    const cases = [
      ['workflow_status', { session_id: '../../etc' }, /invalid session id/],
      ['workflow_status', { session_id: 'never-created' }, /not found/],
      ['tag_image', { session_id: 'good', tag: 42 }, /invalid type/],
      ['analyze_repository', { session_id: 'good' }, /repo_path/],
      ['analyze_repository', { session_id: 'good', repo_path: elsewhere }, /outside the allowed roots/],
    ];
    for (const [name, args, pattern] of cases) {
      const r = await callErr(client, name, args);
      assert.match(r.content[0].text, pattern, name);
      assert.ok(r.structuredContent?.error?.message, name);
    }
    // A client root outside the workspace is ignored: client roots never widen it (#18).
    const ignored = await callErr(client, 'analyze_repository', { session_id: 'good', repo_path: clientRepo });
    assert.match(ignored.content[0].text, /outside the allowed roots/);
    // workflow_status on an unknown id did not create it.
    const list = await call(client, 'list_sessions', {});
    assert.deepEqual(list.sessions.map((s) => s.session_id), ['good']);
    assert.equal((await call(client, 'ping', {})).message, 'pong');
  } finally {
    await client.close();
  }
});

test('client roots outside the workspace are honoured with --trust-client-roots', async () => {
  const work = scratch();
  const allowedByClient = scratch('ckm-root-');
  const clientRepo = makeRepo(allowedByClient, 'theirs', 'go');
  const { client } = await connectStdio({ args: serverArgs(work, ['--trust-client-roots']), roots: [allowedByClient] });
  try {
    await call(client, 'start_workflow', { repo_path: clientRepo, session_id: 'trusted' });
    const ok = await call(client, 'analyze_repository', { session_id: 'trusted', repo_path: clientRepo });
    assert.equal(ok.artifact.language, 'go');
    // A later step re-checks the stored repository against the same roots, and writes.
    const written = await call(client, 'generate_dockerfile', { session_id: 'trusted' });
    assert.equal(written.artifact.path, join(realpathSync(clientRepo), 'Dockerfile'));
    assert.match(readFileSync(join(clientRepo, 'Dockerfile'), 'utf8'), /FROM golang/);
  } finally {
    await client.close();
  }
});

test('cancellation stops a long step and releases the session', async () => {
  const work = scratch();
  const repo = makeRepo(work, 'slow', 'node');
  const bin = join(work, 'bin');
  mkdirSync(bin);
  const pidFile = join(work, 'docker.pid');
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 60\n`);
  chmodSync(join(bin, 'docker'), 0o755);
  const args = ['--store', 'memory', '--workspace-dir', work];
  const { client } = await connectStdio({ args, env: { PATH: `${bin}:${process.env.PATH}` } });
  try {
    await call(client, 'start_workflow', { repo_path: repo, session_id: 'slow' });
    await call(client, 'analyze_repository', { session_id: 'slow', repo_path: repo });
    await call(client, 'generate_dockerfile', { session_id: 'slow' });
    const abort = new AbortController();
    const started = Date.now();
    const pending = client.callTool({ name: 'build_image', arguments: { session_id: 'slow' } }, undefined, { signal: abort.signal });
    setTimeout(() => abort.abort(), 500);
    await assert.rejects(pending);
    // The lock is free again: a step on the same session runs at once.
    const again = await call(client, 'analyze_repository', { session_id: 'slow', repo_path: repo });
    assert.equal(again.step, 'analyze_repository');
    assert.ok(Date.now() - started < 20000, 'the cancelled step kept the session');
    const status = await call(client, 'workflow_status', { session_id: 'slow' });
    assert.ok(!status.steps.find((s) => s.name === 'build_image' && s.status === 'completed'));
    // The cancelled step's child process was stopped, not left running.
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      try {
        process.kill(pid, 0);
        // Killed but not yet reaped (a zombie) counts as stopped.
        const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
        if (state === 'Z') break;
        await new Promise((r) => setTimeout(r, 100));
      } catch {
        alive = false;
      }
    }
    if (alive) {
      try {
        alive = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
      } catch {
        alive = false;
      }
    }
    assert.ok(!alive, `the cancelled step's process ${pid} is still running`);
  } finally {
    await client.close();
  }
});

for (const backend of ['redb', 'sled']) test(`sessions survive a restart of the binary on the same ${backend} store`, async () => {
  const work = scratch();
  const repo = makeRepo(work, 'persist', 'go');
  const args = ['--store', backend, '--store-path', join(work, `sessions.${backend}`), '--workspace-dir', work, '--dry-run'];
  const first = await connectStdio({ args });

  await call(first.client, 'start_workflow', { repo_path: repo, session_id: 'persisted' });
  await call(first.client, 'analyze_repository', { session_id: 'persisted', repo_path: repo });
  await first.client.close();
  const second = await connectStdio({ args });

  try {
    const status = await call(second.client, 'workflow_status', { session_id: 'persisted' });
    assert.equal(status.next_step, 'generate_dockerfile');
    await call(second.client, 'generate_dockerfile', { session_id: 'persisted' });
    const after = await call(second.client, 'workflow_status', { session_id: 'persisted' });
    assert.equal(after.next_step, 'build_image');
  } finally {
    await second.client.close();
  }
});
