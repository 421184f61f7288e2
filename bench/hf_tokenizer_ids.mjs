// Writes Hugging Face tokenizers' input_ids (truncation 128) for every {"text": ...} line of a JSONL file, one
// JSON array per line, so bench/tokenizer.sh can compare ids with `mlfaas tokenize` on real text.
// Usage (inside the peer folder, next to node_modules): node hf_tokenizer_ids.mjs TOKENIZER_JSON TEXTS_JSONL
import { createRequire } from 'node:module';
import { readFileSync, writeSync } from 'node:fs';
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const [tokenizerJson, textsJsonl] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokenizerJson);
tok.setTruncation(128);
const texts = readFileSync(textsJsonl, 'utf8').split('\n').filter(l => l.length).map(l => JSON.parse(l).text);
const encodings = await tok.encodeBatch(texts);
writeSync(1, encodings.map(e => JSON.stringify(Array.from(e.getIds()))).join('\n') + '\n');
