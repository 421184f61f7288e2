// A Lambda Runtime API client (2018-06-01) for a Node.js custom runtime, as AWS's runtime interface clients do
// it: INIT imports the handler module named by _HANDLER ("file.export"), whose top-level await loads the model;
// a failure there is posted to /runtime/init/error and the process exits. Then, forever: GET next -> handler ->
// POST response, or POST error with Lambda's error shape {errorMessage, errorType, stackTrace} and the
// Lambda-Runtime-Function-Error-Type header. One keep-alive connection, as the clients keep.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const base = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, urlPath, body, headers = {}) {
  const [host, port] = api.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port || 80), method, path: urlPath, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

function errorBody(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    errorMessage: e.message,
    errorType: e.name || 'Error',
    stackTrace: (e.stack || '').split('\n').slice(1).map((l) => l.trim()),
  };
}

async function postError(urlPath, err, type) {
  const shape = errorBody(err);
  const body = JSON.stringify(shape);
  type = type || shape.errorType;
  await request('POST', urlPath, body, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Lambda-Runtime-Function-Error-Type': type,
  });
}

async function loadHandler() {
  const spec = process.env._HANDLER || 'index.handler';
  const dot = spec.lastIndexOf('.');
  if (dot <= 0) throw Object.assign(new Error(`Bad handler ${spec}: expected FILE.EXPORT`), { name: 'Runtime.MalformedHandlerName' });
  const file = spec.slice(0, dot), name = spec.slice(dot + 1);
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const mod = await import(pathToFileURL(path.resolve(root, `${file}.mjs`)).href);
  if (typeof mod[name] !== 'function')
    throw Object.assign(new Error(`${file}.${name} is not a function`), { name: 'Runtime.HandlerNotFound' });
  return mod[name];
}

if (!api) {
  process.stderr.write('runtime: AWS_LAMBDA_RUNTIME_API is not set (this runs inside a Lambda execution environment)\n');
  process.exit(2);
}

let handler;
try {
  handler = await loadHandler();
} catch (err) {
  console.error(`INIT failed: ${err.name}: ${err.message}`);
  await postError(`${base}/init/error`, err, err.name?.startsWith('Runtime.') ? err.name : 'Runtime.InitError')
    .catch(() => {});
  process.exit(1);
}

for (;;) {
  const next = await request('GET', `${base}/invocation/next`);
  if (next.status !== 200) throw new Error(`runtime: next answered ${next.status}: ${next.body}`);
  const id = next.headers['lambda-runtime-aws-request-id'];
  const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
  if (next.headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'];
  const context = {
    awsRequestId: id,
    invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  let result;
  try {
    result = await handler(JSON.parse(next.body.toString('utf8')), context);
  } catch (err) {
    console.error(`ERROR ${id} ${err.name}: ${err.message}`);
    await postError(`${base}/invocation/${id}/error`, err);
    continue;
  }
  const body = JSON.stringify(result === undefined ? null : result);
  await request('POST', `${base}/invocation/${id}/response`, body, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
}
