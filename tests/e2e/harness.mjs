// What the browser tests share: the real binary on a free port with a fresh
// database, Debian's Chromium launched with the same flags, and the
// collection of console errors and page errors. Not a test file itself:
// `node --test tests/e2e/` runs only the `*.test.mjs` files beside it.
//
// - The binary: $LONGRUN_BIN, else target/release/longrun (built with
//   `cargo build --release` when missing).
// - Chromium: $CHROMIUM_PATH, else /usr/bin/chromium
//   (`apt-get install -y chromium`).
// - Each run gets a fresh SQLite database in a temporary directory and a
//   free port on 127.0.0.1; the server is killed at the end, also on failure.
// - A test may add `operations` settings and environment variables, e.g.
//   jwt mode: `auth={mode="jwt"}` with LONGRUN_JWT_SECRET; `mintToken`
//   then signs tokens as `longrun token <sub>` does, with the same settings.
// - Screenshots of each final state go to target/e2e/.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = process.env.LONGRUN_BIN
  ? path.resolve(ROOT, process.env.LONGRUN_BIN)
  : path.join(ROOT, 'target', 'release', 'longrun');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'target', 'e2e');

/** Servers still running, killed if the runner is interrupted. */
const running = new Set();

process.on('exit', () => {
  // Last resort if the runner is interrupted.
  for (const child of running) {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the binary on a free port with a fresh SQLite database and waits
 * until it answers. `operations` are more settings of the `operations`
 * table, in ROCKET_OPERATIONS syntax (e.g. `auth={mode="jwt"}`); `env` more
 * environment variables. Returns its `baseUrl`, `mintToken(sub)` (a token
 * from `longrun token <sub>` under the same settings) and `stop()`, which
 * kills it and removes the database; call `stop()` also when a test failed.
 */
export async function startServer({ operations = [], env: extraEnv = {} } = {}) {
  if (!existsSync(BIN)) {
    if (process.env.LONGRUN_BIN) throw new Error(`LONGRUN_BIN=${BIN} does not exist`);
    console.log(`# ${BIN} is missing: cargo build --release (this may take minutes)`);
    const build = spawnSync('cargo', ['build', '--release'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('cargo build --release failed');
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'longrun-e2e-'));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  let log = '';
  const settings = ['enable_echo=true', 'workers=2', 'idle_poll_ms=100', ...operations];
  const env = {
    ...process.env,
    ...extraEnv,
    ROCKET_PORT: String(port),
    ROCKET_ADDRESS: '127.0.0.1',
    ROCKET_LOG_LEVEL: 'critical',
    ROCKET_DATABASES: `{operations={url="sqlite://${dataDir}/e2e.db"}}`,
    ROCKET_OPERATIONS: `{${settings.join(', ')}}`,
  };
  const child = spawn(BIN, [], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.stdout.on('data', (chunk) => {
    log += chunk;
  });
  child.stderr.on('data', (chunk) => {
    log += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  async function stop() {
    if (running.delete(child) && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }

  function mintToken(sub) {
    const minted = spawnSync(BIN, ['token', sub], { cwd: ROOT, env, encoding: 'utf8' });
    if (minted.status !== 0) throw new Error(`longrun token ${sub} failed: ${minted.stderr}`);
    return minted.stdout.trim();
  }

  try {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const early = await Promise.race([exited, sleep(0).then(() => null)]);
      if (early) throw new Error(`the server exited (${JSON.stringify(early)}):\n${log}`);
      try {
        // An unknown operation answers 404 once the API is mounted; 401
        // instead when the API wants a token.
        const response = await fetch(`${baseUrl}/api/v1/operations/${randomUUID()}`);
        if ([401, 404].includes(response.status)) return { baseUrl, mintToken, stop };
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    throw new Error(`the server did not answer within 30 s:\n${log}`);
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Headless Chromium, without the background traffic that adds nothing. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/**
 * Console errors and page errors of `page`, from now on, as strings: a
 * test expects none (a CSP violation is a console error).
 */
export function collectProblems(page) {
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return problems;
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}
