// Shared helpers for the end-to-end tests: the binary under test, scratch repositories,
// and clients from the official MCP TypeScript SDK connected over stdio or HTTP.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

export const BIN = process.env.CKM_BIN;
if (!BIN) throw new Error('CKM_BIN must name the container-kit-mcp binary (the cargo test harness sets it)');

export function scratch(prefix = 'ckm-e2e-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

const REPOS = {
  node: { 'package.json': '{"name":"web","scripts":{"start":"node index.js"},"dependencies":{"express":"^4"}}', 'index.js': 'require("express")().listen(3000)\n' },
  python: { 'requirements.txt': 'flask==3.0.0\n', 'app.py': 'from flask import Flask\napp = Flask(__name__)\n' },
  go: { 'go.mod': 'module example.com/api\n\ngo 1.22\n', 'main.go': 'package main\nfunc main() {}\n' },
  java: { 'pom.xml': '<project><parent><artifactId>spring-boot-starter-parent</artifactId></parent><artifactId>orders</artifactId></project>' },
};

export function makeRepo(root, name, language = 'node') {
  const dir = join(root, name);
  for (const [file, body] of Object.entries(REPOS[language])) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), body);
  }
  return dir;
}

/** A client over stdio to a fresh server process. `roots`: directories the client offers. */
export async function connectStdio({ args = [], env = {}, roots } = {}) {
  const transport = new StdioClientTransport({
    command: BIN,
    args: ['serve', ...args],
    env: { ...process.env, RUST_LOG: 'warn', ...env },
    stderr: 'pipe',
  });
  const stderr = [];
  transport.stderr?.on('data', (d) => stderr.push(d.toString()));
  const client = new Client({ name: 'ckm-e2e', version: '1.0.0' }, { capabilities: roots ? { roots: { listChanged: false } } : {} });
  if (roots) {
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: roots.map((r) => ({ uri: `file://${r}`, name: r })) }));
  }
  await client.connect(transport);
  return { client, transport, stderr };
}

/** Starts `serve --transport http` on an ephemeral loopback port; resolves with its URL. */
export async function startHttp({ args = [], env = {} } = {}) {
  const child = spawn(BIN, ['serve', '--transport', 'http', '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, RUST_LOG: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no listening line within 20 s: ${buf}`)), 20000);
    child.stderr.on('data', (d) => {
      buf += d.toString();
      const m = buf.match(/listening on (http:\/\/\S+)\s/); // \s: the whole line has arrived (a chunk may end mid-address)
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${buf}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, url, exited };
}

export async function connectHttp(url, headers = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'ckm-e2e-http', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** Calls a tool and returns its structuredContent; throws on isError. */
export async function call(client, name, args = {}, options = {}) {
  const r = await client.callTool({ name, arguments: args }, undefined, options);
  if (r.isError) {
    const e = new Error(`${name} failed: ${r.content?.[0]?.text}`);
    e.result = r;
    throw e;
  }
  return r.structuredContent;
}

/** Calls a tool expecting a tool error; returns the result. */
export async function callErr(client, name, args = {}) {
  const r = await client.callTool({ name, arguments: args });
  if (!r.isError) throw new Error(`${name} was expected to fail: ${JSON.stringify(r.structuredContent)}`);
  return r;
}

export const STEPS = [
  'analyze_repository', 'generate_dockerfile', 'build_image', 'scan_image', 'tag_image',
  'push_image', 'generate_k8s_manifests', 'prepare_cluster', 'deploy_application', 'verify_deployment',
];
