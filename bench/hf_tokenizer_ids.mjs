// Writes Hugging Face tokenizers' input_ids for every EmoContext text (same text selection as bench.mjs
// --emocontext), one JSON array per line, so bench/tokenizer.sh can compare ids with mlfaas on real text.
// Usage (inside the peer folder, next to node_modules): node hf_tokenizer_ids.mjs TOKENIZER_JSON CORPUS
import { createRequire } from 'node:module';
import { readFileSync, writeSync } from 'node:fs';
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const [tokenizerJson, corpus] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokenizerJson);
tok.setTruncation(128);
const lines = readFileSync(corpus, 'utf8').split('\n').filter(Boolean).slice(1)
  .map(l => l.split('\t').slice(1, 4).join(' '));
const encodings = await tok.encodeBatch(lines);
const out = encodings.map(e => JSON.stringify(Array.from(e.getIds()))).join('\n') + '\n';
writeSync(1, out);
