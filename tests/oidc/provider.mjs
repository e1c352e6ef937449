#!/usr/bin/env node
// A real OpenID Connect provider for the integration tests: one `oidc-provider` (panva)
// instance per configured issuer, all behind one loopback HTTP server.
//
//   node tests/oidc/provider.mjs CONFIG_JSON_PATH
//
// Listens on 127.0.0.1 on a port the OS picks, prints exactly one line to stdout,
// `{"port": N}`, and then serves until it is killed or its stdin ends (so a test process
// that dies does not leave it behind). Everything else goes to stderr.
//
// Each issuer NAME is mounted at /NAME: its issuer identifier is http://127.0.0.1:N/NAME
// and its discovery document is at /NAME/.well-known/openid-configuration. Tokens come from
// the client credentials grant at the token endpoint and are JWT access tokens (RFC 9068)
// signed with the issuer's own key. /NAME/_test/* are control endpoints for the tests
// (key rotation, JWKS fetch counts, JWKS Cache-Control). An issuer may also register
// public browser clients (authorization code with PKCE S256) and synthetic accounts that
// sign in through a tiny test login form at /NAME/interaction/UID. See tests/oidc/README.md.
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

// oidc-provider prints its notices with console.info, which is stdout. Stdout carries the
// one line the tests parse, so every console method writes to stderr, and this is done
// before oidc-provider is loaded (hence the dynamic import below).
const stdoutWrite = process.stdout.write.bind(process.stdout);
// oidc-provider repeats the same warning for every Provider built (one per issuer, one
// per rotation); each distinct text is printed once.
const seen = new Set();
for (const method of ['log', 'info', 'debug', 'warn']) {
  console[method] = (...args) => {
    const text = args.join(' ');
    if (text.startsWith('oidc-provider ')) {
      if (seen.has(text)) return;
      seen.add(text);
    }
    console.error(...args);
  };
}

const { default: Provider, errors } = await import('oidc-provider');

const ALGS = new Set(['RS256', 'PS256', 'ES256']);
const DEFAULT_TTL_SECS = 300;
/// Resource indicators must be absolute URIs (RFC 8707 §2, enforced by oidc-provider). An
/// audience that is not one is requested as this prefix + the URI-encoded audience.
const AUDIENCE_URN = 'urn:permanence:audience:';

function fail(message) {
  console.error(`oidc test provider: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------- configuration

function parseConfig(path) {
  let raw;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fail(`cannot read config ${path}: ${error.message}`);
  }
  if (!Array.isArray(raw?.issuers) || raw.issuers.length === 0) {
    fail('config: "issuers" must be a non-empty array');
  }
  const names = new Set();
  return raw.issuers.map((issuer, i) => {
    const where = `config: issuers[${i}]`;
    const { name, alg = 'RS256', audience, ttl = DEFAULT_TTL_SECS, clients = [], browser_clients: browserClients = [], accounts = [] } = issuer;
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name) || name === '_test') {
      fail(`${where}.name must match [A-Za-z0-9._-]+`);
    }
    if (names.has(name)) fail(`${where}.name "${name}" is used twice`);
    names.add(name);
    if (!ALGS.has(alg)) fail(`${where}.alg must be one of ${[...ALGS].join(', ')}`);
    if (typeof audience !== 'string' || audience === '') fail(`${where}.audience must be a non-empty string`);
    if (!Number.isSafeInteger(ttl) || ttl < 1) fail(`${where}.ttl must be a positive integer (seconds)`);
    if (!Array.isArray(clients)) fail(`${where}.clients must be an array`);
    const clientIds = new Set();
    for (const [j, client] of clients.entries()) {
      if (typeof client?.client_id !== 'string' || client.client_id === '') fail(`${where}.clients[${j}].client_id must be a non-empty string`);
      if (typeof client.client_secret !== 'string' || client.client_secret === '') fail(`${where}.clients[${j}].client_secret must be a non-empty string`);
      if (client.claims !== undefined && (client.claims === null || typeof client.claims !== 'object' || Array.isArray(client.claims))) {
        fail(`${where}.clients[${j}].claims must be an object`);
      }
      if (clientIds.has(client.client_id)) fail(`${where}.clients[${j}].client_id is used twice`);
      clientIds.add(client.client_id);
    }
    if (!Array.isArray(browserClients)) fail(`${where}.browser_clients must be an array`);
    for (const [j, client] of browserClients.entries()) {
      if (typeof client?.client_id !== 'string' || client.client_id === '') fail(`${where}.browser_clients[${j}].client_id must be a non-empty string`);
      if (!Array.isArray(client.redirect_uris) || client.redirect_uris.length === 0 || !client.redirect_uris.every((u) => typeof u === 'string' && URL.canParse(u))) {
        fail(`${where}.browser_clients[${j}].redirect_uris must be a non-empty array of URLs`);
      }
      if (clientIds.has(client.client_id)) fail(`${where}.browser_clients[${j}].client_id is used twice`);
      clientIds.add(client.client_id);
    }
    if (!Array.isArray(accounts)) fail(`${where}.accounts must be an array`);
    const logins = new Set();
    for (const [j, account] of accounts.entries()) {
      if (typeof account?.login !== 'string' || !/^[A-Za-z0-9._-]+$/.test(account.login)) fail(`${where}.accounts[${j}].login must match [A-Za-z0-9._-]+`);
      if (account.claims !== undefined && (account.claims === null || typeof account.claims !== 'object' || Array.isArray(account.claims))) {
        fail(`${where}.accounts[${j}].claims must be an object`);
      }
      if (logins.has(account.login)) fail(`${where}.accounts[${j}].login "${account.login}" is used twice`);
      logins.add(account.login);
    }
    return { name, alg, audience, ttl, clients, browserClients, accounts };
  });
}

/// The resource indicator a client sends (or gets by default) for an audience.
function resourceFor(audience) {
  return URL.canParse(audience) ? audience : AUDIENCE_URN + encodeURIComponent(audience);
}

/// The audience a resource indicator stands for: the issuer's own audience, or any audience
/// named through the `urn:permanence:audience:` form (so a test can mint a token for some
/// other API from the same issuer). Anything else is refused, as a real server would.
function audienceFor(issuer, indicator) {
  if (indicator === resourceFor(issuer.audience)) return issuer.audience;
  if (indicator.startsWith(AUDIENCE_URN) && indicator.length > AUDIENCE_URN.length) {
    try {
      return decodeURIComponent(indicator.slice(AUDIENCE_URN.length));
    } catch {
      // Falls through to the refusal below.
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- keys

function generateSigningKey(name, alg) {
  const { privateKey } = alg === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: `${name}-${crypto.randomBytes(9).toString('base64url')}`,
    alg,
    use: 'sig',
  };
}

// ---------------------------------------------------------------- one issuer

/// Everything about one issuer that outlives a key rotation: the Provider instance is
/// rebuilt (oidc-provider reads `jwks` only when it is constructed), this state is not.
class Issuer {
  constructor(config, origin) {
    this.config = config;
    this.identifier = `${origin}/${config.name}`;
    this.keys = [generateSigningKey(config.name, config.alg)]; // the signing key first
    this.jwksRequests = 0;
    this.jwksCacheControl = undefined;
    this.claimsByClient = new Map(config.clients.map((c) => [c.client_id, c.claims ?? {}]));
    this.claimsByAccount = new Map(config.accounts.map((a) => [a.login, a.claims ?? {}]));
    this.browserClientIds = new Set(config.browserClients.map((c) => c.client_id));
    this.cookieKeys = [crypto.randomBytes(32).toString('base64url')];
    this.build();
  }

  get signingKid() {
    return this.keys[0].kid;
  }

  rotate(keep) {
    const fresh = generateSigningKey(this.config.name, this.config.alg);
    this.keys = keep ? [fresh, ...this.keys] : [fresh];
    this.build();
    console.error(`oidc test provider: ${this.config.name}: rotated to kid ${fresh.kid} (${keep ? 'old keys kept' : 'old keys dropped'})`);
    return fresh.kid;
  }

  build() {
    const { config } = this;
    const kid = this.signingKid;
    const provider = new Provider(this.identifier, {
      clients: [
        ...config.clients.map((client) => ({
          client_id: client.client_id,
          client_secret: client.client_secret,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          // Both client_secret_basic and client_secret_post are accepted for this value.
          token_endpoint_auth_method: 'client_secret_basic',
        })),
        // Public clients of a browser page: authorization code with PKCE (oidc-provider
        // requires S256 for public clients), no secret. Registered as `native` so that a
        // loopback redirect URI (http://127.0.0.1/board) matches on any port (RFC 8252
        // §7.3): the page's server picks its port after this provider has started.
        ...config.browserClients.map((client) => ({
          client_id: client.client_id,
          application_type: 'native',
          grant_types: ['authorization_code'],
          response_types: ['code'],
          redirect_uris: client.redirect_uris,
          token_endpoint_auth_method: 'none',
        })),
      ],
      // The synthetic accounts of the test login form: `sub` is the login.
      findAccount: (_ctx, sub) => (this.claimsByAccount.has(sub)
        ? { accountId: sub, claims: () => ({ sub, name: this.claimsByAccount.get(sub).name }) }
        : undefined),
      claims: { openid: ['sub'], profile: ['name'] },
      interactions: {
        url: (_ctx, interaction) => `/${config.name}/interaction/${interaction.uid}`,
      },
      // The token endpoint answers a browser client's page from a loopback origin (any port).
      clientBasedCORS: (_ctx, origin, client) => this.browserClientIds.has(client.clientId)
        && /^http:\/\/(127\.0\.0\.1|localhost)(:\d{1,5})?$/.test(origin),
      clientDefaults: {
        id_token_signed_response_alg: config.alg,
      },
      jwks: { keys: this.keys },
      cookies: { keys: this.cookieKeys },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          // An authorization code's token is for the resource granted with it.
          useGrantedResource: () => true,
          defaultResource: (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : resourceFor(config.audience)),
          getResourceServerInfo: (_ctx, indicator) => {
            const audience = audienceFor(config, indicator);
            if (audience === undefined) {
              throw new errors.InvalidTarget(`unknown resource indicator; use ${resourceFor(config.audience)}`);
            }
            return {
              scope: '',
              audience,
              accessTokenFormat: 'jwt',
              accessTokenTTL: config.ttl,
              jwt: { sign: { alg: config.alg, kid } },
            };
          },
        },
      },
      ttl: {
        ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl,
        AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl,
        AuthorizationCode: 60,
        IdToken: 3600,
        Interaction: 600,
        Session: 3600,
        Grant: 3600,
      },
      // The client's configured claims become top-level claims of its access tokens. The
      // registered claims (iss, sub, aud, exp, iat, jti, client_id, scope) are set by
      // oidc-provider after these and win over a same-named entry here.
      // A browser client's token carries its account's claims instead.
      extraTokenClaims: (_ctx, token) => structuredClone(
        (token.accountId ? this.claimsByAccount.get(token.accountId) : this.claimsByClient.get(token.clientId)) ?? {},
      ),
    });

    const jwksPath = provider.pathFor('jwks', { mountPath: '' });
    provider.use(async (ctx, next) => {
      if (ctx.path === jwksPath && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
        this.jwksRequests += 1;
      }
      await next();
      if (ctx.path === jwksPath && ctx.status === 200 && this.jwksCacheControl !== undefined) {
        ctx.set('Cache-Control', this.jwksCacheControl);
      }
    });
    provider.on('server_error', (_ctx, error) => console.error(`oidc test provider: ${config.name}: server_error`, error));
    provider.on('grant.error', (_ctx, error) => console.error(`oidc test provider: ${config.name}: grant.error ${error.error}: ${error.error_description}`));

    this.provider = provider;
    this.handler = provider.callback();
  }
}

// ---------------------------------------------------------------- HTTP

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function control(issuer, action, url, req, res) {
  if (action === 'rotate' && req.method === 'POST') {
    const keep = url.searchParams.get('keep');
    if (keep !== 'true' && keep !== 'false') {
      return sendJson(res, 400, { error: 'keep must be true or false' });
    }
    return sendJson(res, 200, { kid: issuer.rotate(keep === 'true') });
  }
  if (action === 'stats' && req.method === 'GET') {
    return sendJson(res, 200, { jwks_requests: issuer.jwksRequests });
  }
  if (action === 'jwks-cache-control' && req.method === 'POST') {
    let value;
    try {
      ({ value } = JSON.parse(await readBody(req)));
    } catch {
      return sendJson(res, 400, { error: 'body must be JSON {"value": "..."}' });
    }
    if (value !== null && typeof value !== 'string') {
      return sendJson(res, 400, { error: 'value must be a string, or null for the default' });
    }
    issuer.jwksCacheControl = value ?? undefined;
    return sendJson(res, 200, { value });
  }
  return sendJson(res, 404, { error: `no control endpoint ${req.method} _test/${action}` });
}

// ---------------------------------------------------------------- test login form

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function sendHtml(res, status, body) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // No form-action: it would also bind the redirects after the form (back to the client).
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider sign-in</title></head><body>${body}</body></html>`);
}

/// GET /NAME/interaction/UID: the login form (a login name of a configured account, no
/// password: it is a test provider); POST …/login signs that account in, POST …/abort
/// ends the request with `error=access_denied`.
async function interaction(issuer, uid, action, req, res) {
  const { provider } = issuer;
  const base = `/${issuer.config.name}/interaction/${uid}`;
  if (action === '' && req.method === 'GET') {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      // Consent is given at once (a native client is always asked for it): the grant holds
      // the scopes and the resource the request asked for.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      grant.addOIDCScope(String(details.params.scope ?? 'openid'));
      const asked = details.params.resource;
      for (const r of Array.isArray(asked) ? asked : asked ? [asked] : [resourceFor(issuer.config.audience)]) {
        grant.addResourceScope(r, '');
      }
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
    }
    return sendHtml(res, 200, `<h1>Sign in to ${escapeHtml(issuer.config.name)} (test provider)</h1>
<p>Client: ${escapeHtml(details.params.client_id)}</p>
<form method="post" action="${base}/login"><label for="login">Login</label> <input id="login" name="login" autocomplete="off"> <button type="submit" id="submit">Sign in</button></form>
<form method="post" action="${base}/abort"><button type="submit" id="abort">Cancel</button></form>`);
  }
  if (action === '/login' && req.method === 'POST') {
    const login = new URLSearchParams((await readBody(req)).slice(0, 4096)).get('login') ?? '';
    if (!issuer.claimsByAccount.has(login)) {
      return sendHtml(res, 200, `<p id="error">No such account.</p><form method="post" action="${base}/login"><label for="login">Login</label> <input id="login" name="login"> <button type="submit" id="submit">Sign in</button></form>`);
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (action === '/abort' && req.method === 'POST') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'The person cancelled the sign-in <b>at the provider</b>',
    }, { mergeWithLastSubmission: false });
  }
  return sendJson(res, 404, { error: 'no such interaction endpoint' });
}

const issuers = new Map();
let host;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, `http://${host}`);
  const match = /^\/([^/]+)(\/.*)?$/.exec(url.pathname);
  const issuer = match && issuers.get(match[1]);
  if (!issuer) {
    return sendJson(res, 404, { error: 'no such issuer', issuers: [...issuers.keys()] });
  }
  const rest = match[2] ?? '/';
  const interactionPath = /^\/interaction\/([A-Za-z0-9_-]{1,100})(\/login|\/abort)?$/.exec(rest);
  if (interactionPath) {
    return interaction(issuer, interactionPath[1], interactionPath[2] ?? '', req, res).catch((error) => {
      console.error(`oidc test provider: ${issuer.config.name}: interaction failed: ${error.name}: ${error.message}`);
      if (!res.headersSent) sendJson(res, 400, { error: error.name, error_description: error.message });
    });
  }
  const controlPath = /^\/_test\/([^/]+)$/.exec(rest);
  if (controlPath) {
    return control(issuer, controlPath[1], url, req, res).catch((error) => {
      console.error('oidc test provider: control endpoint failed', error);
      sendJson(res, 500, { error: String(error) });
    });
  }
  // Mounted the way Express mounts it: oidc-provider sees the path below /NAME and finds its
  // mount point from originalUrl. Every URL it derives from the request (the endpoints in
  // discovery) uses the one loopback host, whatever Host the client sent.
  req.originalUrl = req.url;
  req.url = rest + url.search;
  req.headers.host = host;
  return issuer.handler(req, res);
});

const configs = parseConfig(process.argv[2] ?? fail('usage: node tests/oidc/provider.mjs CONFIG_JSON_PATH'));

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  host = `127.0.0.1:${port}`;
  for (const config of configs) {
    issuers.set(config.name, new Issuer(config, `http://${host}`));
  }
  for (const issuer of issuers.values()) {
    console.error(`oidc test provider: ${issuer.identifier} (${issuer.config.alg}, kid ${issuer.signingKid}, audience ${issuer.config.audience}, resource ${resourceFor(issuer.config.audience)})`);
  }
  stdoutWrite(`${JSON.stringify({ port })}\n`);
});

// Lives as long as whoever started it holds our stdin open.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
