// A session's artifacts as MCP resources (issue #20), read with the official TypeScript SDK
// over stdio and streamable HTTP: the templates listed, expanded with the SDK's own RFC 6570
// UriTemplate and read; the list; and the errors a client meets (an artifact not produced
// yet, an unknown session, a malformed URI, a Dockerfile turned into a symlink out of the
// workspace — refused, its target never sent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { call, connectHttp, connectStdio, makeRepo, scratch, startHttp } from './helpers.mjs';

const SECRET = 'E2E-SECRET-OUTSIDE-THE-WORKSPACE';

const EXPECTED = {
  dockerfile: 'text/x-dockerfile',
  manifests: 'application/yaml',
  manifest: 'application/yaml',
  'scan-report': 'application/json',
  workflow: 'application/json',
};

async function readError(client, uri) {
  try {
    const r = await client.readResource({ uri });
    throw new Error(`${uri} was expected to fail: ${JSON.stringify(r)}`);
  } catch (e) {
    if (e.code === undefined) throw e;
    assert.ok(!JSON.stringify({ message: e.message, data: e.data }).includes(SECRET), e.message);
    return e;
  }
}

async function scenario(client, work) {
  const repo = makeRepo(work, 'web', 'node');
  const outside = scratch('ckm-e2e-outside-');
  const secret = join(outside, 'secret.txt');
  writeFileSync(secret, SECRET);
  const sid = 'res-e2e-1';
  const run = await call(client, 'start_workflow', { repo_path: repo, session_id: sid, run: true });
  assert.equal(run.status, 'completed');

  const { resourceTemplates } = await client.listResourceTemplates();
  const byName = Object.fromEntries(resourceTemplates.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(byName).sort(), Object.keys(EXPECTED).sort());
  for (const [name, mime] of Object.entries(EXPECTED)) {
    assert.equal(byName[name].mimeType, mime, name);
    assert.ok(byName[name].title && byName[name].description, name);
  }
  const uri = (name, vars = {}) => new UriTemplate(byName[name].uriTemplate).expand({ session_id: sid, ...vars });

  const dockerfile = await client.readResource({ uri: uri('dockerfile') });
  assert.equal(dockerfile.contents.length, 1);
  assert.equal(dockerfile.contents[0].text, readFileSync(join(repo, 'Dockerfile'), 'utf8'));
  assert.equal(dockerfile.contents[0].mimeType, 'text/x-dockerfile');

  const manifests = await client.readResource({ uri: uri('manifests') });
  assert.equal(manifests.contents.length, 1);
  const one = manifests.contents[0];
  assert.equal(one.uri, uri('manifest', { file: 'web.yaml' }));
  // The template matches the URI the server gave back, as a client resolving it would.
  assert.deepEqual(new UriTemplate(byName.manifest.uriTemplate).match(one.uri), { session_id: sid, file: 'web.yaml' });
  assert.equal(one.text, readFileSync(join(repo, 'k8s', 'web.yaml'), 'utf8'));
  const single = await client.readResource({ uri: one.uri });
  assert.deepEqual(single.contents, [one]);

  const scan = JSON.parse((await client.readResource({ uri: uri('scan-report') })).contents[0].text);
  assert.match(scan.image, /web/);
  assert.ok(scan.commands[0].command.includes('trivy'));
  const workflow = JSON.parse((await client.readResource({ uri: uri('workflow') })).contents[0].text);
  assert.equal(workflow.status, 'completed');
  assert.equal(workflow.completed_steps.length, 10);

  const { resources } = await client.listResources();
  const listed = resources.map((r) => r.uri);
  for (const name of ['dockerfile', 'manifests', 'scan-report', 'workflow']) {
    assert.ok(listed.includes(uri(name)), `${name} in ${listed}`);
  }

  // Not produced yet: a fresh session's Dockerfile names the tool that makes it.
  await call(client, 'start_workflow', { repo_path: repo, session_id: 'res-e2e-2' });
  const notYet = await readError(client, 'container-kit://sessions/res-e2e-2/dockerfile');
  assert.equal(notYet.code, -32002);
  assert.match(notYet.message, /call generate_dockerfile first/);
  assert.equal(notYet.data.next_tool, 'generate_dockerfile');
  const unknown = await readError(client, 'container-kit://sessions/nobody/workflow');
  assert.equal(unknown.code, -32002);
  assert.match(unknown.message, /not found/);
  const malformed = await readError(client, 'container-kit://elsewhere/x');
  assert.equal(malformed.code, -32602);
  const invalidId = await readError(client, 'container-kit://sessions/..%2F..%2Fetc/workflow');
  assert.equal(invalidId.code, -32602);

  // The Dockerfile swapped for a symlink to a file outside the workspace.
  rmSync(join(repo, 'Dockerfile'));
  symlinkSync(secret, join(repo, 'Dockerfile'));
  const refused = await readError(client, uri('dockerfile'));
  assert.equal(refused.code, -32002);
  assert.match(refused.message, /symlink/);
}

test('resources over stdio: every template listed and read, with clear errors', async () => {
  const work = scratch();
  const { client } = await connectStdio({ args: ['--store', 'memory', '--workspace-dir', work, '--dry-run'] });
  try {
    await scenario(client, work);
  } finally {
    await client.close();
  }
});

test('resources over streamable HTTP: every template listed and read, with clear errors', async () => {
  const work = scratch();
  const { child, url, exited } = await startHttp({ args: ['--store', 'memory', '--workspace-dir', work, '--dry-run'] });
  try {
    const { client } = await connectHttp(url);
    await scenario(client, work);
    await client.close();
  } finally {
    child.kill('SIGTERM');
  }
  const { code } = await exited;
  assert.equal(code, 0);
});

test("resources honour the client's roots: a repository outside them is refused, the store's records are not", async () => {
  const work = scratch();
  const store = join(work, 's.redb');
  const args = ['--store', 'redb', '--store-path', store, '--workspace-dir', work, '--dry-run'];
  const repo = makeRepo(work, 'web', 'node');
  const other = makeRepo(work, 'other', 'python');
  const first = await connectStdio({ args });
  try {
    await call(first.client, 'start_workflow', { repo_path: repo, session_id: 'roots-1', run: true });
  } finally {
    await first.client.close();
  }
  // A second process on the same store, whose client offers only another directory.
  const narrow = await connectStdio({ args, roots: [other] });
  try {
    const refused = await readError(narrow.client, 'container-kit://sessions/roots-1/dockerfile');
    assert.equal(refused.code, -32602);
    assert.match(refused.message, /outside the allowed roots/);
    const wf = await narrow.client.readResource({ uri: 'container-kit://sessions/roots-1/workflow' });
    assert.equal(JSON.parse(wf.contents[0].text).status, 'completed');
  } finally {
    await narrow.client.close();
  }
});
