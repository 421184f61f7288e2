// Seed A's emotion function as its users would write it for Node.js: ONNX Runtime (onnxruntime-node) on the int8
// ONNX graph and Hugging Face's tokenizer (`tokenizers`, the Rust library behind BertTokenizerFast), both loaded
// during INIT (this module's top-level await). Answers seed A's shape {"predicted_label", "confidence_score",
// "details": {label: probability}}: API Gateway proxy events (HTTP API 2.0, REST 1.0) with seed A's CORS headers,
// direct invocations with the bare object. Bad requests are 400 {"error", "details"}, as ours.
// The model directory ($MODEL_PATH, else $LAMBDA_TASK_ROOT/model) holds model.onnx, tokenizer.json and the
// checkpoint's config.json (id2label).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const ms = () => Number(process.hrtime.bigint()) / 1e6;
const t0 = ms();
const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const { Tokenizer } = require('tokenizers');
const t1 = ms();

const modelDir = process.env.MODEL_PATH || path.join(process.env.LAMBDA_TASK_ROOT || process.cwd(), 'model');
const config = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
const labels = Object.keys(config.id2label).sort((a, b) => a - b).map((k) => config.id2label[k]);
export const tokenizer = Tokenizer.fromFile(path.join(modelDir, 'tokenizer.json'));  // truncates to 128 tokens
const t2 = ms();
// A 512 MB Lambda has 0.29 vCPU: one thread, as our emotion function.
export const session = await ort.InferenceSession.create(path.join(modelDir, 'model.onnx'), {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
// Where INIT goes, in the function's log (node's own start-up is before t0: process.uptime() covers it).
console.log(`INIT node start ${(process.uptime() * 1000 - (ms() - t0)).toFixed(0)} ms, require onnxruntime-node + tokenizers ${(t1 - t0).toFixed(0)} ms, ` +
  `tokenizer.json ${(t2 - t1).toFixed(0)} ms, InferenceSession.create ${(ms() - t2).toFixed(0)} ms`);

const cors = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'Content-Type',
  'Access-Control-Allow-Methods': 'OPTIONS,POST',
};

class BadRequest extends Error {
  constructor(error, details) {
    super(`${error}: ${details}`);
    this.body = { error, details };
  }
}

function sentenceOf(input) {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new BadRequest('Invalid request', 'the body must be a JSON object');
  const key = 'sentence' in input ? 'sentence' : 'text' in input ? 'text' : null;
  if (!key) throw new BadRequest('Missing sentence', 'the body needs a "sentence" (or "text") field');
  if (typeof input[key] !== 'string') throw new BadRequest('Invalid sentence', `"${key}" must be a string`);
  if (!input[key].trim()) throw new BadRequest('Empty sentence', `"${key}" is empty`);
  return input[key];
}

const int64 = (xs) => BigInt64Array.from(xs, (x) => BigInt(x));

export async function feedsOf(sentence) {
  const enc = await tokenizer.encode(sentence);
  const ids = enc.getIds(), dims = [1, ids.length];
  return {
    input_ids: new ort.Tensor('int64', int64(ids), dims),
    attention_mask: new ort.Tensor('int64', int64(enc.getAttentionMask()), dims),
    token_type_ids: new ort.Tensor('int64', int64(enc.getTypeIds()), dims),
  };
}

async function classify(sentence) {
  const out = await session.run(await feedsOf(sentence));
  const logits = Array.from(out[session.outputNames[0]].data);
  const top = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  const details = {};
  let best = 0;
  e.forEach((v, i) => {
    details[labels[i]] = v / sum;
    if (v > e[best]) best = i;
  });
  return { predicted_label: labels[best], confidence_score: e[best] / sum, details };
}

function parseBody(body, base64) {
  const text = base64 ? Buffer.from(body || '', 'base64').toString('utf8') : body || '';
  if (!text.trim()) throw new BadRequest('Invalid JSON', 'the request body is empty');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequest('Invalid JSON', err.message);
  }
}

export async function handler(event) {
  const proxy = event && typeof event === 'object' && typeof event.requestContext === 'object';
  if (!proxy) {
    try {
      return await classify(sentenceOf(event));
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      return err.body;
    }
  }
  const method = event.requestContext?.http?.method || event.httpMethod;
  if (method === 'OPTIONS') return { statusCode: 200, headers: cors, body: '' };
  try {
    const answer = await classify(sentenceOf(parseBody(event.body, event.isBase64Encoded)));
    return { statusCode: 200, headers: cors, body: JSON.stringify(answer), isBase64Encoded: false };
  } catch (err) {
    if (!(err instanceof BadRequest)) throw err;
    return { statusCode: 400, headers: cors, body: JSON.stringify(err.body), isBase64Encoded: false };
  }
}
