// @ts-check
// The four benchmark workloads: a policy (the same .rego for both servers), its data document if any,
// the CheckRequest the load sends (shaped like Envoy's), and a variant the policy must deny, which
// proves before timing that the policy really decides (ghz counts a denial as a gRPC OK).
import { join } from 'node:path';
import { PROJECT_ROOT } from './envoy.mjs';

/** The seed's valid admin token (HS256, secret "secret", role admin, expires 2050). */
export const ADMIN_TOKEN =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYWRtaW4iLCJzdWIiOiJZbTlpIiwibmJmIjoxNTE0ODUxMTM5LCJleHAiOjI1MjQ2MDgwMDB9.H0-42LYzoWyQ_4MXAcED30u6lA5JE087eECV2nxDfXo';

/**
 * @typedef {object} Workload
 * @property {string} name short id used in BENCH_WORKLOADS and file names
 * @property {string} title one line for the report
 * @property {string} regoFile the policy, given as is to the Go plugin and to `opa build -t wasm`
 * @property {'v0' | 'v1'} regoVersion v0 policies need --v0-compatible on both sides
 * @property {Record<string, unknown> | undefined} data data document (data.json at the root)
 * @property {Record<string, unknown>} request protojson CheckRequest the policy allows
 * @property {Record<string, unknown> | undefined} denyRequest a request the policy denies (none for allow-all)
 */

const BENCH_POLICIES = join(PROJECT_ROOT, 'bench', 'policies');
const HOST = 'orders.shop.svc.cluster.local:8080';
const CLIENT_PRINCIPAL = 'spiffe://cluster.local/ns/shop/sa/frontend';
export const BODY_BYTES = 8 * 1024;
export const RBAC_BINDINGS = 1000;

/**
 * A CheckRequest as an Envoy sidecar sends it for an inbound HTTP/1.1 request over mesh mTLS.
 * @param {{ method: string, path: string, headers?: Record<string, string>, body?: string, principal?: string }} spec
 * @returns {Record<string, unknown>}
 */
export function envoyRequest({ method, path, headers = {}, body, principal = CLIENT_PRINCIPAL }) {
  /** @type {Record<string, string>} */
  const allHeaders = {
    ':authority': HOST,
    ':method': method,
    ':path': path,
    ':scheme': 'http',
    'user-agent': 'curl/8.5.0',
    accept: '*/*',
    'x-forwarded-proto': 'http',
    'x-request-id': '6f1c0b8e-4b7a-4f0e-9f2a-3d5c7e9b1a24',
    ...headers,
  };
  /** @type {Record<string, unknown>} */
  const http = { id: '11868012271931932155', method, headers: allHeaders, path, host: HOST, scheme: 'http', protocol: 'HTTP/1.1' };
  if (body !== undefined) {
    const size = Buffer.byteLength(body, 'utf8');
    allHeaders['content-type'] = 'application/json';
    allHeaders['content-length'] = String(size);
    http.size = size;
    http.body = body;
  }
  return {
    attributes: {
      source: { address: { socketAddress: { address: '10.244.1.17', portValue: 51234 } }, principal },
      destination: {
        address: { socketAddress: { address: '10.244.2.8', portValue: 8080 } },
        principal: 'spiffe://cluster.local/ns/shop/sa/orders',
      },
      request: { time: '2026-01-15T10:00:00.123456Z', http },
    },
  };
}

/** @param {number} n @param {number} width */
const pad = (n, width) => String(n).padStart(width, '0');

function jwtWorkload() {
  return /** @type {Workload} */ ({
    name: 'jwt',
    title: "Seed JWT policy (policies/default.rego, Rego v0): io.jwt.decode_verify HS256 + role/method checks, seed admin token",
    regoFile: join(PROJECT_ROOT, 'policies', 'default.rego'),
    regoVersion: 'v0',
    data: undefined,
    request: envoyRequest({ method: 'GET', path: '/api/v1/orders/42', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
    denyRequest: envoyRequest({ method: 'GET', path: '/api/v1/orders/42' }),
  });
}

const RESOURCES = ['orders', 'payments', 'carts', 'users', 'invoices', 'products', 'reviews', 'shipments', 'stock', 'coupons'];
const ROLES = 25;

/** 25 roles of four (method, path glob) grants each, and 1,000 bindings of a SPIFFE subject to two roles. */
function rbacData() {
  /** @type {Record<string, { method: string, path: string }[]>} */
  const roles = {};
  for (let r = 0; r < ROLES; r++) {
    roles[`role-${pad(r, 2)}`] = [0, 1, 2, 3].map((k) => ({
      method: k === 3 ? 'POST' : 'GET',
      path: `/api/v1/${RESOURCES[(r + k) % RESOURCES.length]}/*`,
    }));
  }
  const bindings = [];
  for (let i = 0; i < RBAC_BINDINGS; i++) {
    bindings.push({
      subject: `spiffe://cluster.local/ns/team-${pad(i % 40, 2)}/sa/svc-${pad(i, 4)}`,
      roles: [`role-${pad(i % ROLES, 2)}`, `role-${pad((i * 7 + 3) % ROLES, 2)}`],
    });
  }
  return { rbac: { roles, bindings } };
}

function rbacWorkload() {
  const data = rbacData();
  // A caller three quarters down the list, asking for what its first role's first grant allows.
  const binding = /** @type {{ subject: string, roles: string[] }} */ (data.rbac.bindings[742]);
  const grant = /** @type {{ method: string, path: string }} */ (data.rbac.roles[/** @type {string} */ (binding.roles[0])]?.[0]);
  const path = grant.path.replace('*', '42');
  return /** @type {Workload} */ ({
    name: 'rbac',
    title: `RBAC (bench/policies/rbac.rego): scan of ${RBAC_BINDINGS} subject bindings in data, role grants matched with glob.match`,
    regoFile: join(BENCH_POLICIES, 'rbac.rego'),
    regoVersion: 'v1',
    data,
    request: envoyRequest({ method: grant.method, path, principal: binding.subject }),
    denyRequest: envoyRequest({ method: grant.method, path, principal: 'spiffe://cluster.local/ns/team-00/sa/not-bound' }),
  });
}

/**
 * An order of exactly `bytes` bytes of JSON: items until it is nearly full, then a note pads it.
 * @param {string} tier
 * @param {number} bytes
 */
export function orderBody(tier, bytes) {
  const order = {
    order_id: 'ord-20260115-000042',
    customer: { id: 'cust-001234', tier, email: 'buyer@example.com', country: 'DE' },
    currency: 'EUR',
    items: /** @type {Record<string, unknown>[]} */ ([]),
    note: '',
  };
  for (let i = 0; ; i++) {
    const item = { sku: `SKU-${pad(i, 5)}`, name: `Widget model ${pad(i, 5)}`, quantity: 1 + (i % 5), unit_price: (999 + i * 100) / 100 };
    order.items.push(item);
    if (Buffer.byteLength(JSON.stringify(order)) > bytes - 40) {
      order.items.pop();
      break;
    }
  }
  order.note = 'x'.repeat(bytes - Buffer.byteLength(JSON.stringify(order)));
  const text = JSON.stringify(order);
  if (Buffer.byteLength(text) !== bytes) throw new Error(`order body is ${Buffer.byteLength(text)} bytes, not ${bytes}`);
  return text;
}

function bodyWorkload() {
  const path = '/api/v1/orders';
  return /** @type {Workload} */ ({
    name: 'body',
    title: `JSON body (bench/policies/body.rego): an ${BODY_BYTES / 1024} KiB order in the request body, parsed into parsed_body and checked item by item`,
    regoFile: join(BENCH_POLICIES, 'body.rego'),
    regoVersion: 'v1',
    data: undefined,
    request: envoyRequest({ method: 'POST', path, body: orderBody('gold', BODY_BYTES) }),
    denyRequest: envoyRequest({ method: 'POST', path, body: orderBody('bronze', BODY_BYTES) }),
  });
}

function allowWorkload() {
  return /** @type {Workload} */ ({
    name: 'allow',
    title: 'Always allow (bench/policies/allow.rego): the agent\'s own overhead, with the JWT workload\'s request',
    regoFile: join(BENCH_POLICIES, 'allow.rego'),
    regoVersion: 'v1',
    data: undefined,
    request: envoyRequest({ method: 'GET', path: '/api/v1/orders/42', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
    denyRequest: undefined,
  });
}

/** @type {Record<string, () => Workload>} */
const ALL = { jwt: jwtWorkload, rbac: rbacWorkload, body: bodyWorkload, allow: allowWorkload };
export const WORKLOAD_NAMES = Object.keys(ALL);

/** @param {string} name @returns {Workload} */
export function workload(name) {
  const make = ALL[name];
  if (!make) throw new Error(`unknown workload "${name}" (known: ${WORKLOAD_NAMES.join(', ')})`);
  return make();
}
