// A Node.js handler for tests/integration/platform_node_runtime.sh, run by bench/function_peer's Runtime API
// client: echoes the event and what the context says; {"fail": "message"} throws a RangeError.
const initAt = Date.now();

export async function handler(event, context) {
  if (event && event.fail) throw new RangeError(event.fail);
  return {
    event,
    functionName: context.functionName,
    memoryLimitInMB: context.memoryLimitInMB,
    requestId: context.awsRequestId,
    remainingMs: context.getRemainingTimeInMillis(),
    initAt,
  };
}
