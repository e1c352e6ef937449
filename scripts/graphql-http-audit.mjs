#!/usr/bin/env node
// The GraphQL-over-HTTP conformance audit of `graphql-http` against a running server.
//
//   node scripts/graphql-http-audit.mjs [URL]      # default http://127.0.0.1:8080/graphql
//   GRAPHQL_URL=http://127.0.0.1:4000/graphql node scripts/graphql-http-audit.mjs
//
// Runs every server audit (`auditServer` from graphql-http) and prints one line per audit.
// Exits 1 if any audit ends with status "error" (a MUST the server breaks, or a request that
// failed); warnings (SHOULD/MAY the server does not follow) are printed but allowed. Exits 2
// if the server cannot be reached at all. Needs `npm ci` first (package.json at the root).
import { auditServer } from 'graphql-http';

const url = process.argv[2] ?? process.env.GRAPHQL_URL ?? 'http://127.0.0.1:8080/graphql';

try {
  await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
} catch (error) {
  console.error(`graphql-http audit: cannot reach ${url}: ${error.cause?.message ?? error.message}`);
  process.exit(2);
}

const results = await auditServer({ url });

const counts = { ok: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] = (counts[result.status] ?? 0) + 1;
  const mark = { ok: 'ok   ', warn: 'WARN ', error: 'ERROR' }[result.status] ?? result.status;
  console.log(`${mark} ${result.id} ${result.name}`);
  if (result.status !== 'ok') {
    console.log(`      ${result.reason}`);
    if (result.response) {
      const body = await result.response.text().catch(() => '');
      console.log(`      -> ${result.response.status} ${result.response.headers.get('content-type') ?? ''} ${body.slice(0, 300)}`);
    }
  }
}

console.log(
  `\ngraphql-http audit of ${url}: ${results.length} audits, ${counts.ok} ok, ${counts.warn} warnings, ${counts.error} errors`,
);
process.exit(counts.error > 0 ? 1 : 0);
