/**
 * The dashboard in a real browser: Debian's Chromium (scripts/setup-chromium.sh installs it)
 * driven by playwright-core, no browser download. Loads the page, sees the phase; a ramp made
 * through the API shows on the page by the next poll; the rollback button with the admin token
 * rolls back; the control's rerank stage shows its arms; a screenshot goes to the test's temp dir; no console errors, no request leaves the
 * server, and the page fits a phone's width.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeReranker, type FakeReranker } from '../helpers/fake-reranker.js';
import { call, docs, MANIFEST, startHarness, type Harness } from './harness.js';

const CHROMIUM = process.env.REEMBED_CHROMIUM ?? '/usr/bin/chromium';
const ADMIN = 'dashboard-admin-token';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the dashboard in Chromium', () => {
  let h: Harness;
  let fake: FakeReranker;
  let base = '';
  let dir = '';
  let context: BrowserContext | null = null;
  let page: Page;
  let migration = '';
  const consoleErrors: string[] = [];
  const foreign: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `Chromium not found at ${CHROMIUM}: the browser test needs Debian's chromium package; run \`bash scripts/setup-chromium.sh\` (as root), or set REEMBED_CHROMIUM`,
      );
    fake = await startFakeReranker();
    // The control has a rerank stage (a local server in the rerank wire format).
    const manifest = MANIFEST.replace(
      '    dims: 32\n',
      `    dims: 32\n    rerank: { provider: http, base_url: "${fake.url}", model: rr, top_n: 6 }\n`,
    );
    expect(manifest).toContain('rerank:');
    h = await startHarness('pglite', { server: { tokens: { admin: ADMIN } }, manifest });
    await call(h, 'PUT', '/v1/documents', { body: { documents: docs(20) } });
    await h.rb.backfill.run('base');
    const plan = await call(h, 'POST', '/v1/migrations', { body: { to: 'next' }, token: ADMIN });
    migration = plan.json.migration.id;
    await call(h, 'POST', `/v1/migrations/${migration}/start`, { body: {}, token: ADMIN });
    await h.rb.backfill.run('next');
    await call(h, 'POST', `/v1/migrations/${migration}/shadow`, { body: { sample: 0.1 }, token: ADMIN });
    const ramp = await call(h, 'POST', `/v1/migrations/${migration}/ramp`, { body: { percent: 5 }, token: ADMIN });
    expect(ramp.json.percent).toBe(5);
    // Traffic of both profiles in the serving metrics, for the charts.
    for (let i = 0; i < 60; i++)
      expect(
        (await call(h, 'POST', '/v1/search', { body: { query: `document ${i}`, subject: `u-${i}` } })).status,
      ).toBe(200);
    await h.rb.router.metrics!.flush();
    await h.server.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.server.app.server.address() as AddressInfo).port}`;

    dir = mkdtempSync(join(tmpdir(), 'reembed-dashboard-'));
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('request', (request) => {
      if (!request.url().startsWith(`${base}/`) && !request.url().startsWith('data:')) foreign.push(request.url());
    });
  });

  afterAll(async () => {
    await context?.close();
    await h?.close();
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the phase and percent of the migration', async () => {
    await page.goto(base);
    await expect.poll(() => page.textContent('#phase'), { timeout: 60_000 }).toBe('canary');
    expect(await page.textContent('#percent')).toContain('5%');
    expect(await page.textContent('#migration')).toContain(migration);
    expect(await page.textContent('#track .now')).toBe('5%');
    // Coverage bars of both profiles and the audit history are there.
    await expect.poll(() => page.locator('#coverage > div').count()).toBe(2);
    expect(await page.locator('#history tr').count()).toBeGreaterThan(3);
    // The charts (uPlot, served from node_modules) have a series per profile with traffic.
    for (const chart of ['#chart-errors', '#chart-p95', '#chart-overlap']) {
      await expect.poll(() => page.locator(`${chart} canvas`).count(), { timeout: 60_000 }).toBe(1);
      const legend = await page.textContent(`${chart} .u-legend`);
      expect(legend).toContain('base');
      expect(legend).toContain('next');
    }
    // The control's rerank stage: its searches were reranked by the local server.
    await expect.poll(() => page.locator('#rerank tr').count(), { timeout: 60_000 }).toBe(2);
    const cells = await page.locator('#rerank tr').nth(1).locator('td').allTextContents();
    expect(cells[0]).toBe('base');
    expect(Number(cells[1])).toBeGreaterThan(0);
    expect(Number(cells[1])).toBe(fake.requests.length);
    expect(cells[3]).toBe('0');
  });

  it('shows a ramp made through the API by the next poll', async () => {
    const version = (await call(h, 'GET', '/v1/status')).json.migration.migration.version;
    // The percent each status poll sent after the ramp carried (the page polls every 2 s).
    const after: Promise<number>[] = [];
    let ramped = false;
    page.on('request', (request) => {
      if (ramped && request.url() === `${base}/v1/status`)
        after.push(
          request
            .response()
            .then((r) => r!.json())
            .then((j: { migration: { migration: { percent: number } } }) => j.migration.migration.percent),
        );
    });
    const ramp = await call(h, 'POST', `/v1/migrations/${migration}/ramp`, {
      body: { percent: 25, expectVersion: version },
      token: ADMIN,
    });
    expect(ramp.status).toBe(200);
    ramped = true;
    await expect.poll(() => page.textContent('#percent'), { timeout: 60_000 }).toContain('25%');
    // The first poll after the change already carried it: the page is at most one poll behind.
    await expect.poll(() => after.length, { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
    expect(await after[0]).toBe(25);
    expect(await page.textContent('#track .now')).toBe('25%');
  });

  it('pauses and resumes the candidate backfill from the buttons with the admin token', async () => {
    await page.fill('#token', ADMIN);
    const paused = () => page.textContent('#queue tr:nth-child(3) td:nth-child(6)');
    expect(await page.textContent('#queue tr:nth-child(3) td:nth-child(1)')).toBe('next');
    // The just-in-time columns: what status says is waiting for the candidate.
    expect(await page.textContent('#queue tr:nth-child(1) th:nth-child(8)')).toBe('JIT waiting');
    const jit = (await h.rb.status()).profiles.find((p) => p.profile === 'next')!.jit;
    expect(await page.textContent('#queue tr:nth-child(3) td:nth-child(8)')).toBe(String(jit.pending));
    await page.click('#pause');
    await expect.poll(paused, { timeout: 60_000 }).toBe('yes');
    expect((await h.rb.backfill.status('next')).control.paused).toBe(true);
    await page.click('#resume');
    await expect.poll(paused, { timeout: 60_000 }).toBe('no');
    expect((await h.rb.backfill.status('next')).control.paused).toBe(false);
  });

  it('rolls back from the button with the admin token, a reason and a confirmation', async () => {
    await page.fill('#reason', 'dashboard test: recall dropped');
    const dialogs: string[] = [];
    page.once('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.click('#rollback');
    await expect.poll(() => page.textContent('#phase'), { timeout: 60_000 }).toBe('rolled_back');
    expect(dialogs).toHaveLength(1);
    expect(dialogs[0]).toContain(migration);
    const events = (await call(h, 'GET', `/v1/migrations/${migration}/history`)).json.events;
    expect(events.at(-1)).toMatchObject({
      toPhase: 'rolled_back',
      reason: 'dashboard test: recall dropped',
      actor: 'http',
    });
  });

  it('takes a screenshot, fits a phone width, logged no console error and asked nothing of another host', async () => {
    const shot = join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(1000);
    await page.setViewportSize({ width: 390, height: 844 });
    // The charts follow the width at the next poll; nothing sticks out sideways.
    await expect
      .poll(() => page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'), {
        timeout: 60_000,
      })
      .toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(dir, 'dashboard-phone.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
    expect(foreign).toEqual([]);
  });
});
