#!/usr/bin/env node
// ONNX Runtime's cold start, the peer of `mlfaas predict --model FILE.mlf TEXT`: one Node process that creates an
// InferenceSession, runs one pre-tokenized sentence and prints its logits. bench/cold_start.sh copies this next to
// the ORT peer's common.mjs and times whole processes; the session creation alone is printed too.
//   node ort_cold.mjs --model M.onnx --ids 101,1045,2572,102 [--threads N]
import { ort, parseArgs, sessionOptions, pickFeeds } from './common.mjs';

const args = parseArgs(process.argv.slice(2), { model: { def: null }, ids: { def: null }, threads: { def: 1, type: 'int' } });
if (!args.model || !args.ids) {
  process.stderr.write('usage: node ort_cold.mjs --model M.onnx --ids ID,ID,... [--threads N]\n');
  process.exit(2);
}
const now = () => Number(process.hrtime.bigint()) / 1e6;
const ids = String(args.ids).split(',').map((x) => BigInt(x));
const dims = [1, ids.length];
const feeds = {
  input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), dims),
  attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), dims),
  token_type_ids: new ort.Tensor('int64', new BigInt64Array(ids.length), dims),
};
const t0 = now();
const session = await ort.InferenceSession.create(args.model, sessionOptions(args.threads));
const t1 = now();
const out = await session.run(pickFeeds(session, feeds));
const t2 = now();
const logits = Array.from(out[session.outputNames[0]].data);
console.log(JSON.stringify({ session_create_ms: t1 - t0, first_run_ms: t2 - t1, logits }));
