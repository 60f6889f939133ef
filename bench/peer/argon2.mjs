// The peer's own Argon2id (@node-rs/argon2, the binding node oidc-provider's benchmark set-up
// uses), verifications per CPU-second on one worker thread per core, at Lanyard's parameters
// (m = 19 MiB, t = 2, p = 1). `node argon2.mjs SECS` prints one JSON row.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { hash, verifySync, Algorithm } from '@node-rs/argon2';

const PASSWORD = 'Lanyard-demo-pass-2026';

if (isMainThread) {
  const secs = Number(process.argv[2] || 3);
  const phc = await hash(PASSWORD, { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
  if (!verifySync(phc, PASSWORD) || verifySync(phc, PASSWORD + 'x')) {
    console.error('argon2.mjs: @node-rs/argon2 does not verify its own hash');
    process.exit(1);
  }
  const c0 = process.cpuUsage();
  const counts = await Promise.all(Array.from({ length: availableParallelism() }, () => new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { phc, secs } });
    w.on('message', resolve);
    w.on('error', reject);
  })));
  const c = process.cpuUsage(c0);
  const rate = counts.reduce((a, b) => a + b, 0) / ((c.user + c.system) / 1e6);
  const { version } = JSON.parse(await (await import('node:fs/promises')).readFile(new URL('./node_modules/@node-rs/argon2/package.json', import.meta.url)));
  console.log(JSON.stringify({ implementation: `@node-rs/argon2 ${version} (the peer's), verifySync`, backend: 'its prebuilt binary', profile: 'npm', verify_per_cpu_s: Math.round(rate * 10) / 10 }));
} else {
  const { phc, secs } = workerData;
  const t = Date.now();
  let n = 0;
  while (Date.now() - t < secs * 1000) {
    if (verifySync(phc, PASSWORD)) n++;
  }
  parentPort.postMessage(n);
}
