// Step-path benchmark (issue 19): N concurrent dry-run workflows through one server over
// stdio, driven by the official MCP TypeScript SDK client as in the end-to-end tests. Each
// workflow starts, then calls its ten steps in order; the script prints step p50/p95/p99 and
// per-step p50. A measurement, not a test: it asserts nothing about time.
//
//   CKM_BIN=target/release/container-kit-mcp node e2e/bench/steps.mjs [--workflows 20]
//       [--rounds 1] [--store redb|sled|memory] [--json PATH]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STEPS, call, connectStdio, makeRepo, scratch } from '../tests/helpers.mjs';

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const workflows = Number(flag('workflows', '20'));
const rounds = Number(flag('rounds', '1'));
const store = flag('store', 'redb');
const jsonPath = flag('json', '');

function argsFor(step, id, repo) {
  if (step === 'analyze_repository') return { session_id: id, repo_path: repo };
  if (step === 'tag_image') return { session_id: id, tag: 'v1' };
  return { session_id: id };
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.round((sorted.length - 1) * p)];
}

const work = scratch('ckm-bench-');
const storeArgs = store === 'memory' ? ['--store', 'memory'] : ['--store', store, '--store-path', join(work, `sessions.${store}`)];
const { client } = await connectStdio({ args: [...storeArgs, '--workspace-dir', work, '--dry-run'] });
const repos = Array.from({ length: workflows }, (_, i) => makeRepo(work, `repo-${i}`));
const all = [];
const perStep = Object.fromEntries(STEPS.map((s) => [s, []]));
const started = performance.now();
try {
  for (let r = 0; r < rounds; r++) {
    await Promise.all(repos.map(async (repo, i) => {
      const id = `bench-${r}-${i}`;
      await call(client, 'start_workflow', { repo_path: repo, session_id: id });
      for (const step of STEPS) {
        const t = performance.now();
        await call(client, step, argsFor(step, id, repo));
        const ms = performance.now() - t;
        all.push(ms);
        perStep[step].push(ms);
      }
    }));
  }
} finally {
  await client.close();
}
const wall = (performance.now() - started) / 1000;
all.sort((a, b) => a - b);
const report = {
  store,
  workflows,
  rounds,
  steps: all.length,
  steps_per_sec: all.length / wall,
  p50_ms: pct(all, 0.5),
  p95_ms: pct(all, 0.95),
  p99_ms: pct(all, 0.99),
  max_ms: all[all.length - 1] ?? 0,
  per_step_p50_ms: Object.fromEntries(Object.entries(perStep).map(([s, v]) => [s, pct(v.sort((a, b) => a - b), 0.5)])),
};
const f = (x) => x.toFixed(2);
process.stdout.write(`store ${store}: ${workflows} concurrent dry-run workflows x ${rounds}: ${report.steps} steps in ${f(wall)} s (${f(report.steps_per_sec)}/s)\n`);
process.stdout.write(`step p50 ${f(report.p50_ms)} ms  p95 ${f(report.p95_ms)} ms  p99 ${f(report.p99_ms)} ms  max ${f(report.max_ms)} ms\n`);
for (const [s, v] of Object.entries(report.per_step_p50_ms)) process.stdout.write(`  ${s.padEnd(24)} p50 ${f(v)} ms\n`);
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(report, null, 2));
