// Confirmation before destructive tools (issue 20) with the official TypeScript SDK: a
// client that declares elicitation is asked with elicitation/create; its yes runs the step,
// its no runs nothing; a client without elicitation gets a clear tool error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { BIN, call, callErr, makeRepo, scratch } from './helpers.mjs';

/** Stand-ins for docker, trivy, kubectl and kind that log their arguments to calls.log. */
function standIns(work) {
  const bin = join(work, 'bin');
  mkdirSync(bin);
  const log = join(bin, 'calls.log');
  for (const program of ['docker', 'trivy', 'kubectl', 'kind']) {
    const body = program === 'trivy'
      ? 'out=; prev=; for a in "$@"; do [ "$prev" = --output ] && out=$a; prev=$a; done\necho \'{"Results":[]}\' > "$out"'
      : 'true';
    writeFileSync(join(bin, program), `#!/bin/sh\necho "${program} $*" >> '${log}'\n${body}\n`);
    chmodSync(join(bin, program), 0o755);
  }
  return { bin, calls: () => { try { return readFileSync(log, 'utf8'); } catch { return ''; } } };
}

/** A client over stdio; `answer(request)` answers each elicitation (none: no capability). */
async function connect(work, bin, answer, extra = []) {
  const transport = new StdioClientTransport({
    command: BIN,
    args: ['serve', '--store', 'memory', '--workspace-dir', work, ...extra],
    env: { ...process.env, RUST_LOG: 'warn', PATH: `${bin}:${process.env.PATH}` },
    stderr: 'pipe',
  });
  const capabilities = answer ? { elicitation: { form: {} } } : {};
  const client = new Client({ name: 'ckm-e2e-confirm', version: '1.0.0' }, { capabilities });
  const asked = [];
  if (answer) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params);
      return answer(request.params);
    });
  }
  await client.connect(transport);
  return { client, asked };
}

async function upToPush(client, repo, id) {
  await call(client, 'start_workflow', { repo_path: repo, session_id: id });
  await call(client, 'analyze_repository', { session_id: id, repo_path: repo });
  for (const step of ['generate_dockerfile', 'build_image', 'scan_image']) await call(client, step, { session_id: id });
  await call(client, 'tag_image', { session_id: id, tag: '1.0.0' });
}

const yes = () => ({ action: 'accept', content: { confirm: true } });
const no = () => ({ action: 'decline' });

test('elicitation: a yes runs push_image, a no runs nothing, both are recorded', async () => {
  const work = scratch();
  const repo = makeRepo(work, 'shop');
  const { bin, calls } = standIns(work);
  let reply = yes;
  const { client, asked } = await connect(work, bin, (p) => reply(p));
  try {
    await upToPush(client, repo, 'e1');
    const pushed = await call(client, 'push_image', { session_id: 'e1', registry: 'localhost:5001' });
    assert.equal(pushed.artifact.destination, 'localhost:5001');
    assert.equal(asked.length, 1);
    assert.match(asked[0].message, /push_image will push the image localhost:5001\/.* of session e1 to the registry localhost:5001/);
    assert.equal(asked[0].requestedSchema.properties.confirm.type, 'boolean');
    assert.equal(calls().split('\n').filter((l) => l.startsWith('docker push')).length, 1);
    reply = no;
    await call(client, 'generate_k8s_manifests', { session_id: 'e1' });
    const before = (await call(client, 'get_session', { session_id: 'e1' })).session.metadata.workflow_state;
    const declined = await callErr(client, 'prepare_cluster', { session_id: 'e1' });
    assert.equal(declined.structuredContent.error.kind, 'confirmation_declined');
    assert.ok(!calls().includes('kind create'), calls());
    const after = (await call(client, 'get_session', { session_id: 'e1' })).session.metadata.workflow_state;
    const decisions = after.metadata.confirmations.map((c) => `${c.tool}:${c.decision}:${c.reason}`);
    assert.deepEqual(decisions, ['push_image:accepted:elicitation', 'prepare_cluster:declined:elicitation']);
    delete after.metadata.confirmations;
    delete before.metadata.confirmations;
    assert.deepEqual(after, before, 'a no changes nothing but the decision record');
  } finally {
    await client.close();
  }
});

test('elicitation: start_workflow run: true asks before each destructive step', async () => {
  const work = scratch();
  const repo = makeRepo(work, 'shop');
  const { bin, calls } = standIns(work);
  const { client, asked } = await connect(work, bin, yes);
  try {
    const out = await call(client, 'start_workflow', { repo_path: repo, session_id: 'run', run: true });
    assert.equal(out.status, 'completed');
    assert.deepEqual(asked.map((p) => p.message.split(' ')[0]), ['push_image', 'prepare_cluster', 'deploy_application']);
    assert.ok(calls().includes('kubectl apply'), calls());
  } finally {
    await client.close();
  }
});

test('a client without elicitation gets confirmation_required; --confirm never runs it', async () => {
  const work = scratch();
  const repo = makeRepo(work, 'shop');
  const { bin, calls } = standIns(work);
  const plain = await connect(work, bin, null);
  try {
    await upToPush(plain.client, repo, 'p1');
    const r = await callErr(plain.client, 'push_image', { session_id: 'p1' });
    assert.equal(r.structuredContent.error.kind, 'confirmation_required');
    assert.match(r.content[0].text, /nobody could be asked.*--confirm never/);
    assert.ok(!calls().includes('docker push'));
  } finally {
    await plain.client.close();
  }
  const never = await connect(work, bin, null, ['--confirm', 'never']);
  try {
    await upToPush(never.client, repo, 'p2');
    await call(never.client, 'push_image', { session_id: 'p2' });
    assert.ok(calls().includes('docker push'));
    const s = await call(never.client, 'get_session', { session_id: 'p2' });
    const [record] = s.session.metadata.workflow_state.metadata.confirmations;
    assert.equal(`${record.decision}:${record.reason}`, 'skipped:confirm_never');
  } finally {
    await never.client.close();
  }
});
