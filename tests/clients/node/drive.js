// Drive instagram-node 0.5.8, a v1 client of the era for Node.js, unmodified.
//
// Run by tests/clients/test_instagram_node.py. The library speaks only HTTPS
// (it calls https.request), so it reaches the stack through nginx's TLS port;
// NODE_EXTRA_CA_CERTS names the stack's certificate. Reads a plan on stdin:
//
//   {"host": "https://127.0.0.1", "port": 28443,
//    "steps": [{"use": {"access_token": "..."}, "call": "user", "args": ["self"]}]}
//
// ("sync": true on a step calls a helper that returns instead of calling back.)
//
// and writes one result per step on stdout: {"ok": [what the library passed
// its callback after the error]} or {"error": {code, error_type,
// error_message, message}} for an error it reported.
'use strict';

const api = require('instagram-node');

function runStep(plan, step) {
  return new Promise((resolve) => {
    const ig = api.instagram({ host: plan.host, port: plan.port });
    ig.use(step.use);
    const args = step.args || [];
    if (step.sync) {
      // The library's synchronous helpers (get_authorization_url) return their answer.
      resolve({ ok: [ig[step.call](...args)] });
      return;
    }
    ig[step.call](...args, (err, ...results) => {
      if (err) {
        resolve({
          error: {
            code: err.code === undefined ? null : err.code,
            error_type: err.error_type || null,
            error_message: err.error_message || null,
            message: String(err.message),
          },
        });
      } else {
        // remaining and limit (the rate-limit headers) come last: kept, they are v1 too.
        resolve({ ok: results });
      }
    });
  });
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) {
    input += chunk;
  }
  const plan = JSON.parse(input);
  const results = [];
  for (const step of plan.steps) {
    results.push(await runStep(plan, step));
  }
  process.stdout.write(JSON.stringify(results));
}

main();
