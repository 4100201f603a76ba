import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBeirDataset } from '../../src/eval/beir.js';
import { evaluateRankings } from '../../src/eval/metrics.js';
import type { EvalResult, RerankStatusReport, RerankTrainReport } from '../../src/reembed.js';
import { writeTinyDataset } from '../eval/fixture.js';
import { parseTrecRun, trecEvalRankings } from '../eval/trec-reader.js';
import { runCli } from '../helpers/cli.js';
import { BACKENDS, manifestProject } from '../helpers/databases.js';

const MANIFEST = `
source: { managed: true }
profiles:
  plain: { provider: hash, dims: 64 }
  rr:
    provider: hash
    dims: 64
    rerank: { provider: features, weights: weights/rr.json, top_n: 5 }
environments:
  development: { profile: rr }
`;

describe('reembed rerank train and eval', () => {
  let project: Awaited<ReturnType<typeof manifestProject>>;
  let dataset: string;
  beforeAll(async () => {
    project = await manifestProject('pglite', MANIFEST);
    dataset = writeTinyDataset();
  });
  afterAll(() => project.drop());

  const train = (seed: number, out?: string) =>
    runCli(
      [
        'rerank',
        'train',
        '--dataset',
        dataset,
        '--profile',
        'rr',
        '--seed',
        String(seed),
        '--holdout',
        '0.5',
        '--epochs',
        '50',
        ...(out ? ['--out', out] : []),
        '--json',
      ],
      { cwd: project.dir },
    );

  it('writes the weights the profile names, the same for the same seed, with the held-out half scored', async () => {
    const first = await train(3);
    expect(first.code, first.stderr).toBe(0);
    const report = JSON.parse(first.stdout) as RerankTrainReport;
    const file = join(project.dir, 'weights', 'rr.json');
    expect(report.out).toBe(file);
    expect(report).toMatchObject({ profile: 'rr', seed: 3, topN: 5, dataset: basename(dataset) });
    expect(report.trainQueries + report.heldOutQueries).toBe(5);
    expect(report.heldOutQueries).toBe(2);
    expect(report.positives).toBeGreaterThan(0);
    const heldOut = report.heldOut!;
    expect(heldOut).not.toBeNull();
    for (const m of ['recallAt1', 'recallAt5', 'mrrAt10', 'ndcgAt10'] as const)
      expect(heldOut.lift[m]).toBeCloseTo(heldOut.after[m] - heldOut.before[m], 12);
    const bytes = readFileSync(file, 'utf8');
    const again = await train(3);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(bytes);
    const other = await train(4, 'weights/seed4.json');
    expect(other.code, other.stderr).toBe(0);
    expect(readFileSync(join(project.dir, 'weights', 'seed4.json'), 'utf8')).not.toBe(bytes);
  });

  it('eval reports every metric before and after the rerank with the lift, and a run file per arm', async () => {
    if (!existsSync(join(project.dir, 'weights', 'rr.json'))) expect((await train(3)).code).toBe(0);
    const r = await runCli(
      ['eval', '--dataset', dataset, '--profiles', 'plain,rr', '--run', 'runs', '--history', 'h.jsonl', '--json'],
      { cwd: project.dir },
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as EvalResult;
    const [plain, rr] = out.profiles;
    expect(plain!.rerank).toBeUndefined();
    const rerank = rr!.rerank!;
    expect(rerank).toMatchObject({ provider: 'features', topN: 5 });
    // Before: the exact ranking cut to top_n (6 documents, so @1, @5, MRR and nDCG are the exact figures).
    for (const m of ['recallAt1', 'recallAt5', 'mrrAt10'] as const) {
      expect(rerank.before[m]).toBeCloseTo(rr!.exact.metrics[m], 12);
      expect(rerank.lift[m]).toBeCloseTo(rerank.after[m] - rerank.before[m], 12);
    }
    expect(out.files.runs).toEqual([
      join('runs', 'plain.trec'),
      join('runs', 'rr.trec'),
      join('runs', 'rr-rerank-off.trec'),
      join('runs', 'rr-rerank-on.trec'),
    ]);
    const { qrels } = await readBeirDataset(dataset);
    const arm = (file: string) =>
      evaluateRankings(trecEvalRankings(parseTrecRun(readFileSync(join(project.dir, file), 'utf8'))), qrels).summary;
    expect(arm(join('runs', 'rr-rerank-off.trec'))).toEqual(rerank.before);
    expect(arm(join('runs', 'rr-rerank-on.trec'))).toEqual(rerank.after);
    const human = await runCli(['eval', '--dataset', dataset, '--profiles', 'rr', '--history', 'h.jsonl'], {
      cwd: project.dir,
    });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/rerank stage \(exact top top_n, before → after, lift in points\)/);
  });

  it('REEMBED_RERANK=off switches every profile off when a router starts; another value is refused', async () => {
    if (!existsSync(join(project.dir, 'weights', 'rr.json'))) expect((await train(3)).code).toBe(0);
    const db = join(project.dir, 'db3');
    writeFileSync(
      join(project.dir, 'docs.jsonl'),
      ['piano violin guitar', 'violin drums', 'apple banana', 'piano solo', 'guitar strings']
        .map((content, i) => JSON.stringify({ id: `d${i}`, content }))
        .join('\n'),
    );
    expect((await runCli(['--db', db, 'load', 'docs.jsonl'], { cwd: project.dir })).code).toBe(0);
    const backfill = await runCli(['--db', db, 'backfill', '--profile', 'rr', '--no-index'], { cwd: project.dir });
    expect(backfill.code, backfill.stderr).toBe(0);
    const on = await runCli(['--db', db, 'search', 'piano violin', '--json'], { cwd: project.dir });
    expect(on.code, on.stderr).toBe(0);
    expect(JSON.parse(on.stdout)).toMatchObject({ profile: 'rr', rerank: 'on' });
    const off = await runCli(['--db', db, 'search', 'piano violin', '--json'], {
      cwd: project.dir,
      env: { REEMBED_RERANK: 'off' },
    });
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ profile: 'rr', rerank: 'off' });
    const status = JSON.parse(
      (await runCli(['--db', db, 'rerank', 'status', '--json'], { cwd: project.dir })).stdout,
    ) as RerankStatusReport;
    expect(status.switches).toMatchObject([{ profile: '*', state: 'off', reason: 'REEMBED_RERANK' }]);
    // Without the variable the switch stays where it was: the database keeps it for every instance.
    const still = await runCli(['--db', db, 'search', 'piano violin', '--json'], { cwd: project.dir });
    expect(JSON.parse(still.stdout)).toMatchObject({ rerank: 'off' });
    // The variable's own `off` is undone by its `on` at a later start…
    const back = await runCli(['--db', db, 'search', 'piano violin', '--json'], {
      cwd: project.dir,
      env: { REEMBED_RERANK: 'on' },
    });
    expect(JSON.parse(back.stdout)).toMatchObject({ rerank: 'on' });
    // …but an operator's kill switch is not: a deployment's environment never undoes it.
    const killed = await runCli(['--db', db, 'rerank', 'off', '--reason', 'incident 42'], { cwd: project.dir });
    expect(killed.code, killed.stderr).toBe(0);
    const deploy = await runCli(['--db', db, 'search', 'piano violin', '--json'], {
      cwd: project.dir,
      env: { REEMBED_RERANK: 'on' },
    });
    expect(deploy.code, deploy.stderr).toBe(0);
    expect(JSON.parse(deploy.stdout)).toMatchObject({ rerank: 'off' });
    expect(deploy.stderr).toMatch(/REEMBED_RERANK=on ignored/);
    const bogus = await runCli(['--db', db, 'search', 'piano', '--json'], {
      cwd: project.dir,
      env: { REEMBED_RERANK: 'maybe' },
    });
    expect(bogus.code).toBe(2);
    expect(JSON.parse(bogus.stdout)).toMatchObject({ error: { code: 'CONFIG_INVALID' } });
  });

  it('refuses a missing weights file with a typed error and exit 2 when searching', async () => {
    writeFileSync(join(project.dir, 'broken.yaml'), MANIFEST.replace('weights/rr.json', 'weights/none.json'));
    const r = await runCli(['--config', 'broken.yaml', '--db', join(project.dir, 'db2'), 'search', 'piano', '--json'], {
      cwd: project.dir,
    });
    expect(r.code, r.stderr).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'RERANK_WEIGHTS_INVALID' } });
  });
});

describe.each(BACKENDS)('reembed rerank on|off on %s', (backend) => {
  let project: Awaited<ReturnType<typeof manifestProject>>;
  beforeAll(async () => {
    project = await manifestProject(backend, MANIFEST);
  });
  afterAll(() => project.drop());
  const cli = (...args: string[]) => runCli(['--db', project.target, ...args, '--json'], { cwd: project.dir });

  it('switches a profile or every profile, and status says so', async () => {
    const off = await cli('rerank', 'off', '--profile', 'rr', '--reason', 'looks wrong');
    expect(off.code, off.stderr).toBe(0);
    expect((JSON.parse(off.stdout) as RerankStatusReport).profiles).toEqual([
      { profile: 'rr', provider: 'features', topN: 5, percent: 100, state: 'off' },
    ]);
    const status = JSON.parse((await cli('rerank', 'status')).stdout) as RerankStatusReport;
    expect(status.switches).toMatchObject([{ profile: 'rr', state: 'off', actor: 'cli', reason: 'looks wrong' }]);
    expect((await cli('rerank', 'on', '--profile', 'rr')).code).toBe(0);
    expect((JSON.parse((await cli('rerank', 'off')).stdout) as RerankStatusReport).profiles[0]!.state).toBe('off');
    // `on` for one profile does not undo `off` for every profile.
    expect(
      (JSON.parse((await cli('rerank', 'on', '--profile', 'rr')).stdout) as RerankStatusReport).profiles[0]!.state,
    ).toBe('off');
    expect((JSON.parse((await cli('rerank', 'on')).stdout) as RerankStatusReport).profiles[0]!.state).toBe('on');
  });

  it('refuses a profile without a rerank block, and an unknown one', async () => {
    const none = await cli('rerank', 'off', '--profile', 'plain');
    expect(none.code).toBe(2);
    expect(JSON.parse(none.stdout)).toMatchObject({ error: { code: 'RERANK_NOT_CONFIGURED' } });
    expect((await cli('rerank', 'off', '--profile', 'nope')).code).toBe(2);
  });
});
