// A receiver's warm-up before a bench starts its clock (bench/drain, bench/backfill). The floors'
// receivers index their bodies' events before their timed requests, untimed, so their code is warm by
// then. A receiver that times the events too (the drain's, the wire floor's, a backfill's server) gets
// the same warm-up: as many index events, of another project, so that what is timed (this project's
// events and bodies) is untouched. Otherwise its JIT warm-up counted against the client being timed
// alone; a real server has long been running.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { withQueue } from '../lib/queue/queue.js';
import type { CommitContext, DossierEvent, EligibleArtifact } from '../lib/types.js';

/** Posts index events to a receiver in gzipped batches of 500, with plain http.request (node-fetch stays cold). */
export async function postEvents(url: string, envelopes: DossierEvent[]): Promise<void> {
  const target = new URL('/api/v1/events/batch/', url);
  for (let i = 0; i < envelopes.length; i += 500) {
    const body = gzipSync(JSON.stringify({ events: envelopes.slice(i, i + 500) }));
    await new Promise<void>((resolve, reject) => {
      const r = http.request(target, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`indexing: http ${res.statusCode}`))));
      });
      r.on('error', reject);
      r.end(body);
    });
  }
}

/** The index events of `artifacts` as another project's (see the top of this file). */
export async function warmUpEvents(artifacts: EligibleArtifact[], ctx: CommitContext): Promise<DossierEvent[]> {
  const state = mkdtempSync(path.join(tmpdir(), 'ks-bench-warm-'));
  try {
    const other = artifacts.map((a) => ({ ...a, namespace: { ...a.namespace, project_uuid: WARM_UP_PROJECT } }));
    const stored = await withQueue({ stateDir: state }, async (q) => {
      q.enqueue(other, ctx);
      return q.readyEvents(other.length * 2);
    });
    return stored.map((e) => e.envelope);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}
const WARM_UP_PROJECT = '00000000-0000-4000-8000-00000000a11e';
