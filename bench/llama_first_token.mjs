// llama.cpp (node-llama-cpp) from process start to the first generated token of a 16-token prompt, as a user's
// process pays it: library load, model mmap, context, prefill, one greedy token. Prints one line when the token
// exists; bench/first_token.py times the line from the exec.
//   node llama_first_token.mjs --model FILE.gguf [--threads 1] [--prompt-tokens 16]
import {getLlama} from "node-llama-cpp";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const threads = +(args.threads ?? 1), nPrompt = +(args["prompt-tokens"] ?? 16);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath: args.model, useMmap: true});
const ctx = await model.createContext({contextSize: nPrompt + 8, threads: {ideal: threads, min: threads},
                                       batchSize: nPrompt, sequences: 1});
const vocab = model.fileInsights?.tokenizer?.vocabSize ?? 1024;
const prompt = [1];
for (let i = 1; i < nPrompt; i++) prompt.push(259 + ((i * 7919) % Math.max(1, Math.min(vocab, 1024) - 259)));
const seq = ctx.getSequence();
for await (const tok of seq.evaluate(prompt, {temperature: 0})) {
  process.stdout.write(`first token ${tok}\n`);
  break;
}
process.exit(0);
