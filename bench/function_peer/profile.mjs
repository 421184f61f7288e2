// Where the peer function's CPU goes per request, outside any platform: the handler's INIT as in a cold start,
// then for each of the ten sentences N direct calls of the whole handler, of tokenizer.encode and of
// session.run alone, timed with process.cpuUsage() (all threads of the process) and wall clock.
//   MODEL_PATH=DIR node profile.mjs SENTENCES.txt [N]     (run from the assembled function directory)
import fs from 'node:fs';
import { createRequire } from 'node:module';

const [file, n = '20'] = process.argv.slice(2);
if (!file) { console.error('usage: MODEL_PATH=DIR node profile.mjs SENTENCES.txt [N]'); process.exit(2); }
const sentences = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const now = () => Number(process.hrtime.bigint()) / 1e6;
let c0 = cpu(), w0 = now();
const { handler, tokenizer, session, feedsOf } = await import('./index.mjs');
console.log(`INIT: ${(now() - w0).toFixed(0)} ms wall, ${(cpu() - c0).toFixed(0)} ms CPU`);
async function measure(name, fn) {
  for (const s of sentences) await fn(s);  // warm-up
  const c = cpu(), w = now();
  for (let i = 0; i < Number(n); i++) for (const s of sentences) await fn(s);
  const calls = Number(n) * sentences.length;
  console.log(`${name}: ${((now() - w) / calls).toFixed(2)} ms wall, ${((cpu() - c) / calls).toFixed(2)} ms CPU per call`);
}
await measure('handler (direct event)', (s) => handler({ sentence: s }));
await measure('tokenizer.encode', (s) => tokenizer.encode(s));
const feeds = [];
for (const s of sentences) feeds.push(await feedsOf(s));
let k = 0;
await measure('session.run', () => session.run(feeds[k++ % feeds.length]));
