// The couponrush rush for k6 users: every iteration is a NEW virtual user (random UUIDv4
// id, HS256 token signed here with the server's secret) pressing "get coupon" once, plus
// DUPLICATES extra concurrent presses. `couponrush loadtest` runs the same rush and also
// gives the full correctness verdict; this script checks what k6 can see.
//
//   k6 run -e JWT_SECRET="$(cat data/jwt-secret)" -e USERS=10000 -e QUANTITY=100 deploy/k6/rush.js
//
// Env: TARGET (http://127.0.0.1:8080), JWT_SECRET (required), USERS (10000),
// QUANTITY (100), DUPLICATES (0), VUS (min(USERS, 512): requests in flight).
import http from 'k6/http';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const TARGET = (__ENV.TARGET || 'http://127.0.0.1:8080').replace(/\/$/, '');
const SECRET = __ENV.JWT_SECRET;
const USERS = parseInt(__ENV.USERS || '10000', 10);
const QUANTITY = parseInt(__ENV.QUANTITY || '100', 10);
const DUPLICATES = parseInt(__ENV.DUPLICATES || '0', 10);
const VUS = parseInt(__ENV.VUS || String(Math.min(USERS, 512)), 10);

if (!SECRET) {
  throw new Error('set JWT_SECRET to the server secret (e.g. -e JWT_SECRET="$(cat data/jwt-secret)")');
}

const accepted = new Counter('issue_accepted');
const soldOut = new Counter('issue_sold_out');
const alreadyIssued = new Counter('issue_already_issued');
const failed = new Counter('issue_errors');

export const options = {
  scenarios: {
    // Like `couponrush loadtest`: VUS requests in flight, USERS users in all, each
    // iteration a fresh user, all released at once.
    rush: { executor: 'shared-iterations', vus: VUS, iterations: USERS, maxDuration: '5m' },
  },
  thresholds: {
    // Nobody is ACCEPTED beyond the stock, and every request gets a definite answer.
    issue_accepted: [`count<=${QUANTITY}`],
    issue_errors: ['count==0'],
  },
};

function b64url(s) {
  return encoding.b64encode(s, 'rawurl');
}

// HS256 JWT with the claims couponrush verifies: sub, role, iat, exp.
function token(sub, role) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, role, iat: now, exp: now + 3600 }));
  const sig = crypto.hmac('sha256', SECRET, `${head}.${body}`, 'base64rawurl');
  return `${head}.${body}.${sig}`;
}

// Random (v4), never arrival-ordered: ordered ids flatter the durable path.
function uuidv4() {
  const b = new Uint8Array(crypto.randomBytes(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function setup() {
  const admin = token(uuidv4(), 'ADMIN');
  const expiresAt = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  const res = http.post(
    `${TARGET}/api/coupons`,
    JSON.stringify({
      name: 'k6 rush', couponType: 'CHICKEN', discountType: 'FIXED', discountValue: 3000,
      totalQuantity: QUANTITY, expiresAt,
    }),
    { headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } },
  );
  if (res.status !== 201) {
    throw new Error(`creating the coupon: ${res.status} ${res.body}`);
  }
  return { coupon: res.json('id'), admin };
}

export default function (data) {
  const params = { headers: { authorization: `Bearer ${token(uuidv4(), 'USER')}` }, tags: { name: 'issue' } };
  const url = `${TARGET}/api/coupons/${data.coupon}/issue`;
  const presses = Array.from({ length: 1 + DUPLICATES }, () => ['POST', url, null, params]);
  for (const res of http.batch(presses)) {
    const result = res.status === 200 || res.status === 202 ? res.json('result') : null;
    if (result === 'ACCEPTED') accepted.add(1);
    else if (result === 'SOLD_OUT') soldOut.add(1);
    else if (result === 'ALREADY_ISSUED') alreadyIssued.add(1);
    else failed.add(1);
    check(res, { 'definite answer': () => result !== null });
  }
}

export function teardown(data) {
  // Persisted vs answered is what `couponrush loadtest` checks in full; here, print it.
  const res = http.get(`${TARGET}/api/admin/coupons/${data.coupon}/stats`, {
    headers: { authorization: `Bearer ${data.admin}` },
  });
  console.log(`coupon ${data.coupon} stats: ${res.body} (expect persisted == min(${QUANTITY}, ${USERS}))`);
}
