// The `helm test` check, run inside the cluster by templates/tests/: every service answers
// /healthz, /readyz and /metrics through its Service, and the auth service's JWKS holds a key
// the gateways can verify tokens with. A publish/receive round trip needs a tenant, an API key
// and a token, i.e. writes through the admin API; this check stays read-only.
// Environment: PARLEY_TEST_GATEWAY_URL, PARLEY_TEST_AUTH_URL, PARLEY_TEST_PRESENCE_URL,
// PARLEY_TEST_DEADLINE_MS (default 60000). Exits 0 when every check passed.
const targets = {
  gateway: process.env.PARLEY_TEST_GATEWAY_URL,
  auth: process.env.PARLEY_TEST_AUTH_URL,
  presence: process.env.PARLEY_TEST_PRESENCE_URL,
};
const deadline = Date.now() + Number(process.env.PARLEY_TEST_DEADLINE_MS ?? 60000);

async function get(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

// Retries until the deadline: pods may still be rolling out when the test starts.
async function check(name, url, accept) {
  let last = 'no answer';
  for (;;) {
    try {
      const { status, body } = await get(url);
      const problem = accept(status, body);
      if (!problem) {
        console.log(`ok   ${name}`);
        return true;
      }
      last = problem;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      console.log(`FAIL ${name}: ${last}`);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

const status200 = (status) => (status === 200 ? undefined : `HTTP ${status}`);
const exposition = (status, body) =>
  status !== 200 ? `HTTP ${status}` : /^# (HELP|TYPE) /m.test(body) ? undefined : 'not a Prometheus exposition';
const jwks = (status, body) => {
  if (status !== 200) return `HTTP ${status}`;
  const keys = JSON.parse(body).keys;
  if (!Array.isArray(keys) || keys.length === 0) return 'no keys';
  if (keys.some((k) => typeof k.kid !== 'string' || 'd' in k)) return 'a key without kid, or a private key';
  return undefined;
};

let ok = true;
for (const [service, base] of Object.entries(targets)) {
  if (!base) {
    console.log(`FAIL ${service}: no URL given`);
    ok = false;
    continue;
  }
  ok = (await check(`${service} /healthz`, `${base}/healthz`, status200)) && ok;
  ok = (await check(`${service} /readyz`, `${base}/readyz`, status200)) && ok;
  ok = (await check(`${service} /metrics`, `${base}/metrics`, exposition)) && ok;
}
if (targets.auth) ok = (await check('auth JWKS', `${targets.auth}/.well-known/jwks.json`, jwks)) && ok;
console.log(ok ? 'all checks passed' : 'some checks failed');
process.exit(ok ? 0 : 1);
