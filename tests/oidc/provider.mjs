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
// (key rotation, JWKS fetch counts, JWKS Cache-Control). See tests/oidc/README.md.
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
    const { name, alg = 'RS256', audience, ttl = DEFAULT_TTL_SECS, clients = [] } = issuer;
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
    return { name, alg, audience, ttl, clients };
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
      clients: config.clients.map((client) => ({
        client_id: client.client_id,
        client_secret: client.client_secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        // Both client_secret_basic and client_secret_post are accepted for this value.
        token_endpoint_auth_method: 'client_secret_basic',
      })),
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
          defaultResource: () => resourceFor(config.audience),
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
      },
      // The client's configured claims become top-level claims of its access tokens. The
      // registered claims (iss, sub, aud, exp, iat, jti, client_id, scope) are set by
      // oidc-provider after these and win over a same-named entry here.
      extraTokenClaims: (_ctx, token) => structuredClone(this.claimsByClient.get(token.clientId) ?? {}),
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
