// A real OpenID provider for the tests (npm `oidc-provider`, OpenID Certified), started and driven
// by tests/idp.py: `node provider.mjs CONFIG.json`. Nothing here stands in for an IdP: tokens are
// issued, signed and refreshed by oidc-provider itself; this file only configures it.
//
// CONFIG.json (written by tests/idp.py):
//   host, port (0: any free port; a restart passes the port it had, so the issuer stays the same),
//   jwks {keys: [private JWKs]}: the first key of each algorithm signs, all are published,
//   clients [oidc-provider client metadata], cookie_keys [strings],
//   live_file: JSON re-read whenever it changes (no restart): {accounts: [{id, email,
//     email_verified, name, groups}], ttl: {id_token, access_token, refresh_token, device_code},
//     device: {interval (s), slow_down (bool)}},
//   state_file: where grants, sessions, codes and refresh tokens are kept, so that they survive a
//     restart as a real IdP's would (a key rotation or "IdP down" must not log everyone out).
// Prints `IDP READY <issuer>` on stdout once it listens; exits on SIGTERM/SIGINT.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

// --- live settings: accounts and token lifetimes, re-read when the file changes -------------------
let live = { mtimeMs: -1, size: -1, value: { accounts: [], ttl: {} } };
function liveSettings() {
  const st = fs.statSync(config.live_file);
  if (st.mtimeMs !== live.mtimeMs || st.size !== live.size) {
    live = { mtimeMs: st.mtimeMs, size: st.size, value: JSON.parse(fs.readFileSync(config.live_file, 'utf8')) };
  }
  return live.value;
}
function ttl(name, fallback) {
  const value = liveSettings().ttl?.[name];
  return typeof value === 'number' ? value : fallback;
}
function accountById(id) {
  // The dev login page takes any login: the account's id or its e-mail address both sign in.
  return liveSettings().accounts.find((a) => a.id === id || a.email === id);
}

// --- storage that survives a restart: one JSON file, rewritten on every change --------------------
const state = fs.existsSync(config.state_file) ? JSON.parse(fs.readFileSync(config.state_file, 'utf8')) : {};
function persist() {
  const now = Date.now();
  for (const [key, entry] of Object.entries(state)) {
    if (entry.expiresAt && entry.expiresAt < now) delete state[key];
  }
  const tmp = `${config.state_file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state));
  fs.renameSync(tmp, config.state_file);
}
function alive(entry) {
  return entry && (!entry.expiresAt || entry.expiresAt >= Date.now()) ? entry : undefined;
}
class FileAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    state[this.key(id)] = { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined };
    persist();
  }

  async find(id) { return alive(state[this.key(id)])?.payload; }

  async findBy(field, value) {
    const prefix = `${this.model}:`;
    const found = Object.entries(state).find(
      ([key, entry]) => key.startsWith(prefix) && entry.payload[field] === value && alive(entry),
    );
    return found?.[1].payload;
  }

  async findByUid(uid) { return this.findBy('uid', uid); }

  async findByUserCode(userCode) { return this.findBy('userCode', userCode); }

  async consume(id) {
    const entry = state[this.key(id)];
    if (entry) {
      entry.payload.consumed = Math.floor(Date.now() / 1000);
      persist();
    }
  }

  async destroy(id) {
    delete state[this.key(id)];
    persist();
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of Object.entries(state)) {
      if (entry.payload.grantId === grantId) delete state[key];
    }
    persist();
  }
}

// --- the provider ---------------------------------------------------------------------------------
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port, config.host, resolve);
});
const { port } = server.address();
const issuer = `http://${config.host}:${port}`;

const provider = new Provider(issuer, {
  adapter: FileAdapter,
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: config.cookie_keys },
  // email and groups go into the ID token itself (as Okta, Entra ID, Keycloak and Google do for
  // the code flow), not only into userinfo; groups only when the `groups` scope is asked for.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
    profile: ['name', 'preferred_username'],
  },
  async findAccount(ctx, id) {
    const account = accountById(id);
    if (!account) return undefined;
    return {
      accountId: account.id,
      async claims() {
        // re-read: a change of groups in the IdP shows in the next token
        const now = accountById(account.id) ?? account;
        return {
          sub: now.id,
          email: now.email,
          email_verified: now.email_verified !== false,
          name: now.name ?? now.id,
          preferred_username: now.id,
          groups: now.groups ?? [],
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: false },
    userinfo: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: {
    IdToken: () => ttl('id_token', 300),
    AccessToken: () => ttl('access_token', 300),
    RefreshToken: () => ttl('refresh_token', 24 * 3600),
    DeviceCode: () => ttl('device_code', 600),
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 24 * 3600,
  },
  clockTolerance: 0,
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});
provider.on('server_error', (ctx, err) => console.error('IDP server_error', err));

// The device flow's polling interval (RFC 8628 3.2; oidc-provider sends none, which means 5 s) as
// the live settings say, and, when they ask for it, slow_down to a client polling faster than that
// while the code is pending (RFC 8628 3.5), as Okta or Google do.
const lastPoll = new Map();
provider.use(async (ctx, next) => {
  await next();
  const device = liveSettings().device ?? {};
  const interval = typeof device.interval === 'number' ? device.interval : 5;
  if (ctx.method === 'POST' && ctx.path === '/device/auth' && ctx.status === 200 && ctx.body) {
    ctx.body = { ...ctx.body, interval };
  } else if (ctx.method === 'POST' && ctx.path === '/token' && ctx.body?.error === 'authorization_pending') {
    const code = ctx.oidc?.params?.device_code;
    const now = Date.now();
    const last = lastPoll.get(code);
    lastPoll.set(code, now);
    if (device.slow_down && last !== undefined && now - last < interval * 1000) {
      ctx.body = { error: 'slow_down', error_description: 'you are polling too quickly and should back off at a reasonable rate' };
    }
  }
});

server.on('request', provider.callback());
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
// Gone with the test that started it, even one killed without a chance to stop it.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();
console.log(`IDP READY ${issuer}`);
// for a person reading the test's output: where the state is
console.error(`IDP ${issuer} state ${path.resolve(config.state_file)}`);
