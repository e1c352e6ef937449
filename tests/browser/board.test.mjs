#!/usr/bin/env node
// The real-browser test of the board pack page (`/board`), against a running
// `permanence serve --demo` whose quarterly publication has been made (scripts/browser-test
// starts one, waits for it and runs this).
//
//   BOARD_URL=http://127.0.0.1:8080/board BOARD_ANALYST_TOKEN=… MANAGER_TOKEN=… \
//     node tests/browser/board.test.mjs [--screenshot]
//
// Drives Debian's Chromium with playwright-core and holds the page to its contract
// (board/README.md, "The contract"): sign-in by the URL fragment and by pasting; every panel
// ready; every figure on the page equal to the API's answer to the panel's own query
// (board/src/queries.js) and variables, a withheld one shown as `c`; the page sending
// exactly those queries; no console error, no request leaving the server's origin; every
// control reachable with Tab; no serious or critical axe-core violation; what a manager
// sees and may choose; the controls reloading the panels; the CSV exports; an A4 PDF with a
// title page and a page per panel; the time to the first paint and to every panel ready.
// `--screenshot` also writes the full-page screenshot docs/board.png.
//
// With OIDC_ORIGIN (the test OpenID Connect provider's origin), OIDC_LABEL (the issuer's
// label on the page) and OIDC_LOGIN (an account of its test login form), also signing in
// with the provider (authorization code + PKCE): back signed in with the account's figures,
// nothing left in the address, storage or cookies, the policy still closed to other
// origins; and a provider's error return shown in the sign-in area. With MANAGER_TOKEN's
// person a manager, the ASGLB return's downloads (the board analyst does not see them).
//
// `--timing-only` (scripts/browser-test --size full) runs only the paint timing: three page
// loads for each token, the median printed.
//
// Prints a line per check and ends with "N passed, N failed"; exits 1 on any failure, 2
// when it cannot start (a missing variable, no browser). Artefacts (the PDF, the CSVs, a
// screenshot of each session) go to a new temporary directory, printed at the end, or to
// BOARD_ARTEFACTS. BOARD_QUERIES names another queries module (default
// board/src/queries.js); BOARD_CHROMIUM another browser (default /usr/bin/chromium).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

// ---------------------------------------------------------------------------------------
// The contract (board/README.md)
// ---------------------------------------------------------------------------------------

/** The panels, each with the named export of queries.js holding its query. */
const PANELS = {
  scorecard: 'SCORECARD_QUERY',
  funnel: 'FUNNEL_QUERY',
  flows: 'FLOWS_QUERY',
  sufficiency: 'SUFFICIENCY_QUERY',
  alerts: 'ALERTS_QUERY',
};

/** The export control of each panel (`[data-export]`'s value). */
const EXPORT_FILES = {
  scorecard: 'scorecard.csv',
  funnel: 'funnel.csv',
  flows: 'flows.csv',
  sufficiency: 'sufficiency.csv',
  alerts: 'tracking.csv',
};

/** The controls a keyboard user must reach, besides the sign-in or sign-out control and
 * every enabled `[data-export]`. */
const FILTER_CONTROLS = ['#as-of', '#period', '#scorecard-period', '#authority', '#apply'];

/** The roles that read an authority's reports as they are (the authority filter offers
 * their authorities). */
const REPORT_ROLES = ['MANAGER', 'DECISION_MAKER', 'RECRUITMENT_OFFICER'];

/** The natural key of an element of the list `list` (the field names leading to it), as
 * `data-figure` paths name it in brackets. */
function naturalKey(list, element) {
  const code = (authority) => (authority ? authority.code : '_');
  const name = list[list.length - 1];
  switch (name) {
    case 'authorities':
      return 'authority' in element ? code(element.authority) : element.code;
    case 'byChildAuthority':
    case 'byHouseholdAuthority':
      return code(element.authority);
    case 'years':
      return element.from;
    case 'groups':
      return list[list.length - 2] === 'byChannel' ? element.channel : code(element.authority);
    case 'stageCounts':
    case 'stages':
      return element.stage;
    case 'timeliness':
      return element.step;
    case 'cells':
      return `${code(element.childAuthority)}>${code(element.householdAuthority)}`;
    case 'rows':
      return element.characteristic;
    default:
      return undefined;
  }
}

/** A gross regression of the time to every panel ready; the numbers themselves are
 * printed, not asserted. */
const READY_LIMIT_MS = 10_000;

/** Chromium's flags: headless, and nothing that reaches for the network by itself (this
 * machine's network is closed; background requests would be refused many at a time). */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// ---------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------

function startFailure(message) {
  console.error(`board test: ${message}`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const takeScreenshot = argv.includes('--screenshot');
const timingOnly = argv.includes('--timing-only');
for (const a of argv) {
  if (a !== '--screenshot' && a !== '--timing-only') startFailure(`unknown argument ${a} (--screenshot or --timing-only)`);
}

const env = (name) => process.env[name]?.trim() || startFailure(`${name} is not set`);
const boardUrl = new URL(env('BOARD_URL'));
if (boardUrl.pathname === '/' || boardUrl.pathname === '') boardUrl.pathname = '/board';
boardUrl.hash = '';
const origin = boardUrl.origin;
const board = boardUrl.href;
// The timing-only run may have a manager alone (a full-size publication may not be made).
const analystToken = timingOnly ? process.env.BOARD_ANALYST_TOKEN?.trim() || '' : env('BOARD_ANALYST_TOKEN');
const managerToken = timingOnly ? process.env.MANAGER_TOKEN?.trim() || '' : env('MANAGER_TOKEN');
if (timingOnly && !analystToken && !managerToken) startFailure('--timing-only needs BOARD_ANALYST_TOKEN or MANAGER_TOKEN');
const chromiumPath = process.env.BOARD_CHROMIUM || '/usr/bin/chromium';
/** The test OpenID Connect provider, when there is one (scripts/browser-test starts it). */
const oidc = process.env.OIDC_ORIGIN?.trim()
  ? { origin: new URL(process.env.OIDC_ORIGIN).origin, label: env('OIDC_LABEL'), login: env('OIDC_LOGIN') }
  : null;
/** The ASGLB return's downloads (`#asglb`), their files named by the quarter. */
const ASGLB_BUTTONS = ['#asglb-adoptions', '#asglb-adopters', '#asglb-xlsx'];
if (!existsSync(chromiumPath)) startFailure(`no browser at ${chromiumPath} (apt-get install -y chromium)`);

const artefacts = process.env.BOARD_ARTEFACTS
  ? resolve(process.env.BOARD_ARTEFACTS)
  : await mkdtemp(join(tmpdir(), 'permanence-board-test-'));
await mkdir(artefacts, { recursive: true });

const queriesPath = resolve(process.env.BOARD_QUERIES || join(root, 'board/src/queries.js'));
if (!existsSync(queriesPath)) startFailure(`${queriesPath} does not exist`);
const queries = await import(pathToFileURL(queriesPath).href);
/** A panel's query: the named export (the contract's), else `QUERIES[panel]`. */
const queryOf = (panel) => queries[PANELS[panel]] ?? queries.QUERIES?.[panel];
/** Every document queries.js holds: the page may send these and no other. */
const knownDocuments = new Set(Object.values(queries).filter((v) => typeof v === 'string'));

// ---------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------

const outcomes = [];
/** Tokens the test came to know (from the provider): never printed. */
const secrets = new Set();

/** Runs one check: `fn(fail)` calls `fail(message)` for each problem it finds (and may
 * throw, which is a problem too). Prints `ok` or `FAIL` with every problem. */
async function check(name, fn) {
  const problems = [];
  // Tokens are written as <token> (the log of a CI run is read by others).
  const fail = (message) => {
    let text = String(message);
    for (const t of [analystToken, managerToken, ...secrets]) if (t) text = text.replaceAll(t, '<token>');
    problems.push(text);
  };
  const started = performance.now();
  try {
    await fn(fail);
  } catch (error) {
    fail(`stopped: ${error?.stack ?? error}`);
  }
  const ms = Math.round(performance.now() - started);
  outcomes.push({ name, problems });
  if (problems.length === 0) {
    console.log(`ok    ${name} (${ms} ms)`);
  } else {
    console.log(`FAIL  ${name} (${ms} ms)`);
    for (const p of problems.slice(0, 40)) console.log(`        - ${p.replaceAll('\n', '\n          ')}`);
    if (problems.length > 40) console.log(`        … and ${problems.length - 40} more`);
  }
  return problems.length === 0;
}

const info = (line) => console.log(`      ${line}`);

/** JSON with sorted keys, to compare values. */
function canon(value) {
  if (Array.isArray(value)) return `[${value.map(canon).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canon(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------
// The API, as the test asks it itself
// ---------------------------------------------------------------------------------------

/** Sends an operation as `token`'s subject; waits and tries again (five times at most)
 * when the subject's rate-limit bucket is full, so that the test's own requests never
 * stand in for a refusal of the page's. */
async function graphql(query, variables, token) {
  for (let attempt = 1; ; attempt++) {
    const body = await graphqlOnce(query, variables, token);
    const limited = body.errors?.find((e) => e.extensions?.code === 'RATE_LIMITED');
    if (!limited || attempt >= 5) return body;
    await sleep(1000 * (limited.extensions.retryAfterSeconds ?? 1));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `token`'s subject has its whole rate-limit bucket again (the API says what
 * is left in `extensions.cost`): the test asks every query a second time and downloads
 * every export within a second, as no person would, and the page must not pay for it. */
async function fullBucket(token) {
  const cost = (await graphqlOnce('{ __typename }', {}, token)).extensions?.cost;
  if (!cost?.limit || !cost.restoreRate) return;
  const missing = cost.limit - cost.remaining;
  if (missing > 0) await sleep((1000 * missing) / cost.restoreRate + 100);
}

async function graphqlOnce(query, variables, token) {
  const response = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`/graphql answered ${response.status} with no JSON: ${text.slice(0, 200)}`);
  }
}

/** `scorecard.period.authorities[alder].a1.days` → ['scorecard', 'period', 'authorities',
 * {key: 'alder'}, 'a1', 'days']. */
function parsePath(path) {
  const steps = [];
  const re = /([^.[\]]+)|\[([^\]]*)\]|(\.)/gy;
  let m;
  let end = 0;
  while ((m = re.exec(path)) !== null && m[0] !== '') {
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push({ key: m[2] });
    end = re.lastIndex;
  }
  if (end !== path.length || steps.length === 0) throw new Error(`unreadable path`);
  return steps;
}

/** Resolves a `data-figure` path in the API's `data`: `{ found: true, value, parent }` or
 * `{ found: false, why }`. */
function resolvePath(data, path) {
  let steps;
  try {
    steps = parsePath(path);
  } catch (error) {
    return { found: false, why: error.message };
  }
  let at = data;
  let parent = null;
  const fields = [];
  const walked = [];
  for (const step of steps) {
    parent = at;
    if (typeof step === 'string') {
      if (at === null || typeof at !== 'object' || Array.isArray(at) || !(step in at)) {
        return { found: false, why: `no field "${step}" in ${walked.join('.') || '(data)'}` };
      }
      at = at[step];
      fields.push(step);
      walked.push(step);
    } else {
      if (!Array.isArray(at)) return { found: false, why: `${walked.join('.')} is not a list` };
      const keys = at.map((e) => naturalKey(fields, e));
      if (keys.every((k) => k === undefined)) {
        return { found: false, why: `the contract gives no key for the list ${walked.join('.')}` };
      }
      const matches = at.filter((_, i) => keys[i] === step.key);
      if (matches.length !== 1) {
        return {
          found: false,
          why: `${matches.length} elements of ${walked.join('.')} have the key "${step.key}" (the keys: ${keys.join(', ') || 'none, the list is empty'})`,
        };
      }
      at = matches[0];
      walked.push(`[${step.key}]`);
    }
  }
  return { found: true, value: at, parent };
}

/** What the page must show for what a path resolves to: `value` (with the value),
 * `withheld` or `missing`; undefined when it is no figure at all. */
function expected(resolved, path) {
  const v = resolved.value;
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'value' in v) {
    if (v.suppressed === true) return { kind: 'withheld' };
    return v.value === null ? { kind: 'missing' } : { kind: 'value', value: v.value };
  }
  if (v !== null && typeof v === 'object') return undefined;
  if (v !== null) return { kind: 'value', value: v };
  // A plain null: sufficiency's gap is withheld when its units or households are.
  const p = resolved.parent;
  if (path.endsWith('.gap') && (p?.units?.suppressed || p?.households?.suppressed)) return { kind: 'withheld' };
  return { kind: 'missing' };
}

// ---------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------

/** Installed in every page before its own scripts: records when every panel is first
 * ready, and counts each panel's loads (each time it becomes ready). */
function readyObserver() {
  const state = { readyAt: null, loads: {}, states: {} };
  window.__boardTest = state;
  const look = () => {
    const panels = [...document.querySelectorAll('section.panel[data-panel]')];
    for (const p of panels) {
      const name = p.dataset.panel;
      const now = p.dataset.state;
      if (now !== state.states[name] && now === 'ready') state.loads[name] = (state.loads[name] ?? 0) + 1;
      state.states[name] = now;
    }
    if (state.readyAt === null && panels.length > 0 && panels.every((p) => p.dataset.state === 'ready')) {
      state.readyAt = performance.now();
    }
  };
  new MutationObserver(look).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ['data-state', 'data-panel'],
  });
}

// Playwright gives each launch a new --user-data-dir of its own (an empty temporary
// directory, deleted on close), and every session below a new context of it: no session
// shares storage, cookies or cache with another.
const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });

/** A new browser context and page, with everything it logs and requests recorded, and
 * every request to another origin blocked. */
async function session(label, { bypassCSP = false, allow = [] } = {}) {
  const context = await browser.newContext({
    acceptDownloads: true,
    bypassCSP,
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'Europe/London',
  });
  const seen = { consoleErrors: [], pageErrors: [], offOrigin: [], failed: [], graphql: [] };
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if ([origin, ...allow].some((o) => url === o || url.startsWith(`${o}/`))) return route.continue();
    seen.offOrigin.push(`${route.request().method()} ${url}`);
    return route.abort('blockedbyclient');
  });
  await context.addInitScript(readyObserver);
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location();
    seen.consoleErrors.push(`${message.text()}${where?.url ? ` (${where.url}:${where.lineNumber})` : ''}`);
  });
  page.on('pageerror', (error) => seen.pageErrors.push(error.message));
  page.on('requestfailed', (request) => {
    seen.failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText ?? ''}`);
  });
  page.on('request', (request) => {
    if (request.method() !== 'POST' || new URL(request.url()).pathname !== '/graphql') return;
    try {
      seen.graphql.push(request.postDataJSON());
    } catch {
      seen.graphql.push({ unreadable: request.postData() });
    }
  });
  return { label, context, page, seen };
}

/** Fails on what a session logged or requested that it should not have. */
function checkQuiet(s, fail) {
  for (const e of s.seen.consoleErrors) fail(`${s.label}: console error: ${e}`);
  for (const e of s.seen.pageErrors) fail(`${s.label}: uncaught exception: ${e}`);
  for (const e of s.seen.offOrigin) fail(`${s.label}: request to another origin (blocked): ${e}`);
  for (const e of s.seen.failed) {
    if (!e.includes('ERR_BLOCKED_BY_CLIENT')) fail(`${s.label}: request failed: ${e}`);
  }
}

async function panelStates(page) {
  return page.$$eval('section.panel[data-panel]', (els) =>
    els.map((el) => ({
      panel: el.dataset.panel,
      state: el.dataset.state,
      variables: el.getAttribute('data-variables'),
      unavailable: el.getAttribute('data-unavailable') === 'true',
      error: el.querySelector('.panel-error')?.textContent?.trim() ?? '',
    })),
  );
}

/** Waits until every panel is ready or has failed; fails for each one that failed. With
 * `after` (each panel's load count before), waits for the panels named in `reload` to load
 * again first. */
async function waitReady(s, fail, { timeout = 60_000, after = null, reload = [] } = {}) {
  try {
    await s.page.waitForFunction(
      ({ after, reload }) => {
        const panels = [...document.querySelectorAll('section.panel[data-panel]')];
        if (panels.length === 0) return false;
        if (!panels.every((p) => p.dataset.state === 'ready' || p.dataset.state === 'error')) return false;
        if (!after) return true;
        const loads = window.__boardTest?.loads ?? {};
        return reload.every(
          (name) =>
            (loads[name] ?? 0) > (after[name] ?? 0) ||
            document.querySelector(`section.panel[data-panel="${name}"]`)?.dataset.state === 'error',
        );
      },
      { after, reload },
      { timeout, polling: 50 },
    );
  } catch {
    const states = await panelStates(s.page).catch(() => []);
    fail(
      `${s.label}: panels not all ready within ${timeout / 1000} s: ` +
        (states.length
          ? states.map((p) => `${p.panel}=${p.state}${p.error ? ` (${p.error})` : ''}`).join(', ')
          : 'no section.panel[data-panel] on the page'),
    );
    return false;
  }
  let ok = true;
  for (const p of await panelStates(s.page)) {
    if (p.state === 'error') {
      fail(`${s.label}: panel ${p.panel} is in error: ${p.error || '(no .panel-error text)'}`);
      ok = false;
    }
  }
  return ok;
}

async function signInByFragment(s, token) {
  const response = await s.page.goto(`${board}#token=${token}`, { waitUntil: 'domcontentloaded' });
  if (!response?.ok()) throw new Error(`GET ${board} answered ${response?.status()} ${response?.statusText()}`);
}

/** Waits until the page knows how it may be signed in (its /board/config.json). */
async function signInOptions(page) {
  if (oidc) await page.locator('#issuer-sign-in button').first().waitFor({ state: 'visible', timeout: 10_000 });
}

/** Clicks "Sign in with …", and at the provider either signs `oidc.login` in or cancels.
 * Returns the access token the page was given (read from the token endpoint's answer). */
async function signInWithProvider(s, { cancel = false } = {}) {
  await signInOptions(s.page);
  let token = null;
  s.page.on('response', async (response) => {
    if (response.url().startsWith(oidc.origin) && new URL(response.url()).pathname.endsWith('/token') && response.request().method() === 'POST') {
      try {
        token = (await response.json()).access_token ?? null;
        if (token) secrets.add(token);
      } catch {
        // Not JSON: the page reports it.
      }
    }
  });
  await s.page.getByRole('button', { name: `Sign in with ${oidc.label}` }).click();
  await s.page.waitForURL((url) => url.origin === oidc.origin, { timeout: 10_000 });
  if (cancel) {
    await s.page.locator('#abort').click();
  } else {
    await s.page.locator('#login').fill(oidc.login);
    await s.page.locator('#submit').click();
  }
  await s.page.waitForURL((url) => url.origin === origin && url.pathname === '/board', { timeout: 15_000 });
  return () => token;
}

async function signInByPasting(s, token) {
  await s.page.locator('textarea#token').fill(token);
  await s.page.locator('button#sign-in').click();
}

async function timing(page) {
  return page.evaluate(() => ({
    readyAt: window.__boardTest?.readyAt ?? null,
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
  }));
}

/** Every `[data-figure]` of every panel against the API's answer to the panel's own
 * query and variables, asked with `token`; and the page must have sent that query with
 * those variables itself. Returns what it counted. */
async function checkFigures(s, token, fail) {
  const panels = await s.page.$$eval('section.panel[data-panel]', (els) =>
    els.map((el) => ({
      panel: el.dataset.panel,
      state: el.dataset.state,
      unavailable: el.getAttribute('data-unavailable') === 'true',
      variables: el.getAttribute('data-variables'),
      figures: [...el.querySelectorAll('[data-figure]')].map((f) => ({
        path: f.getAttribute('data-figure'),
        value: f.getAttribute('data-value'),
        withheld: f.getAttribute('data-withheld'),
        missing: f.getAttribute('data-missing'),
        tag: f.tagName.toLowerCase(),
        text: f.textContent.trim(),
        title: f.getAttribute('title') ?? '',
      })),
    })),
  );
  const counts = { figures: 0, withheld: 0, byPanel: {}, paths: [] };
  const names = panels.map((p) => p.panel);
  for (const name of Object.keys(PANELS)) {
    const n = names.filter((x) => x === name).length;
    if (n !== 1) fail(`${s.label}: ${n} section.panel[data-panel="${name}"] (one expected)`);
  }
  for (const p of panels) {
    const where = `${s.label}, ${p.panel}`;
    if (!(p.panel in PANELS)) {
      fail(`${where}: a panel the contract does not name`);
      continue;
    }
    if (p.state !== 'ready') continue; // waitReady reported it
    if (p.unavailable) {
      if (p.variables !== null) fail(`${where}: data-unavailable, yet data-variables ${p.variables}`);
      if (p.figures.length) fail(`${where}: data-unavailable, yet ${p.figures.length} figures`);
      counts.byPanel[p.panel] = { unavailable: true };
      continue;
    }
    const query = queryOf(p.panel);
    if (typeof query !== 'string') {
      fail(`${where}: ${queriesPath} has no string export ${PANELS[p.panel]}`);
      continue;
    }
    let variables;
    try {
      variables = JSON.parse(p.variables ?? '');
    } catch {
      fail(`${where}: data-variables is not JSON: ${p.variables}`);
      continue;
    }
    if (!s.seen.graphql.some((b) => b.query === query && canon(b.variables ?? {}) === canon(variables))) {
      fail(`${where}: the page never sent ${PANELS[p.panel]} with its data-variables ${p.variables}`);
    }
    const answer = await graphql(query, variables, token);
    if (answer.errors?.length || !answer.data) {
      fail(`${where}: the API refuses the panel's query with ${p.variables}: ${JSON.stringify(answer.errors ?? answer).slice(0, 400)}`);
      continue;
    }
    const c = { figures: p.figures.length, value: 0, withheld: 0, missing: 0, variables, cost: answer.extensions?.cost?.requested };
    for (const f of p.figures) {
      const at = `${where}: ${f.path}`;
      counts.paths.push(f.path);
      const resolved = resolvePath(answer.data, f.path);
      if (!resolved.found) {
        fail(`${at}: not in the API's answer (${resolved.why}); the page shows "${f.text}"`);
        continue;
      }
      const want = expected(resolved, f.path);
      if (!want) {
        fail(`${at}: names an object, not a figure: ${JSON.stringify(resolved.value).slice(0, 120)}`);
        continue;
      }
      c[want.kind] += 1;
      if (want.kind === 'withheld') {
        if (f.text !== 'c') fail(`${at}: withheld by the API, but the page shows "${f.text}", not "c"`);
        if (!f.title.trim()) fail(`${at}: withheld, but its title (the reason) is empty`);
        if (f.withheld !== 'true') fail(`${at}: withheld, but data-withheld is ${JSON.stringify(f.withheld)}`);
        if (f.value !== null) fail(`${at}: withheld, but data-value is ${JSON.stringify(f.value)}`);
        if (f.tag !== 'abbr') fail(`${at}: withheld, shown in <${f.tag}>, not <abbr>`);
      } else if (want.kind === 'missing') {
        if (f.text !== '\u2013') fail(`${at}: no figure in the API (null), but the page shows "${f.text}", not "–"`);
        if (f.missing !== 'true') fail(`${at}: no figure in the API, but data-missing is ${JSON.stringify(f.missing)}`);
        if (f.value !== null) fail(`${at}: no figure in the API, but data-value is ${JSON.stringify(f.value)}`);
        if (!f.title.trim()) fail(`${at}: no figure in the API, and its title is empty`);
      } else {
        if (f.value !== String(want.value)) {
          fail(`${at}: data-value ${JSON.stringify(f.value)}, but the API's value is ${JSON.stringify(want.value)}`);
        }
        if (f.withheld === 'true' || f.text === 'c') fail(`${at}: shown as withheld, but the API gives ${JSON.stringify(want.value)}`);
        if (f.missing === 'true' || f.text === '\u2013' || f.text === '') fail(`${at}: shown as missing ("${f.text}"), but the API gives ${JSON.stringify(want.value)}`);
      }
    }
    counts.figures += c.figures;
    counts.withheld += c.withheld;
    counts.byPanel[p.panel] = c;
    if (p.figures.length === 0) fail(`${where}: ready, but no [data-figure] at all`);
  }
  return counts;
}

function printCounts(counts) {
  for (const [panel, c] of Object.entries(counts.byPanel)) {
    if (c.unavailable) info(`${panel}: unavailable (data-unavailable="true")`);
    else info(`${panel}: ${c.figures} figures (${c.value} shown, ${c.withheld} withheld, ${c.missing} missing), cost ${c.cost ?? '?'}, variables ${JSON.stringify(c.variables)}`);
  }
}

/** Every query the page sent is one of queries.js's documents, so what the test sends is
 * what the page sends. */
function checkPageDocuments(s, fail) {
  for (const body of s.seen.graphql) {
    if (typeof body?.query !== 'string') {
      fail(`${s.label}: the page sent a /graphql request without a query text: ${JSON.stringify(body).slice(0, 120)}`);
    } else if (!knownDocuments.has(body.query)) {
      fail(`${s.label}: the page sent a document that queries.js does not hold: ${body.query.replace(/\s+/g, ' ').slice(0, 100)}…`);
    }
  }
}

/** Presses Tab from the top of the page until focus comes round again: each element
 * reached (its id, `[data-export="…"]` or tag) and whether it showed a focus ring. */
async function tabThrough(page) {
  // The top: the document's own element focused for a moment, so that Tab starts there.
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    const html = document.documentElement;
    html.setAttribute('tabindex', '-1');
    html.focus();
    html.removeAttribute('tabindex');
  });
  const reached = new Map();
  const order = [];
  let first = null;
  for (let i = 0; i < 300; i++) {
    await page.keyboard.press('Tab');
    const d = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body || e === document.documentElement) return null;
      const style = getComputedStyle(e);
      const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
      const exp = e.getAttribute('data-export');
      const key = e.id
        ? `#${e.id}`
        : exp !== null
          ? `[data-export="${exp}"]`
          : `${e.tagName.toLowerCase()}${e.className ? `.${String(e.className).split(' ')[0]}` : ''}`;
      return { key, ring };
    });
    if (!d) continue;
    if (first === null) first = d.key;
    else if (d.key === first) break;
    order.push(d.key);
    reached.set(d.key, d.ring);
  }
  return { reached, order };
}

function checkReached({ reached }, keys, fail, label) {
  for (const key of keys) {
    if (!reached.has(key)) fail(`${label}: ${key} never receives focus with Tab`);
    else if (!reached.get(key)) fail(`${label}: ${key} shows no focus ring (outline or box-shadow) when focused with Tab`);
  }
}

async function options(page, selector) {
  return page.$$eval(`${selector} option`, (os) =>
    os.map((o) => ({ value: o.value, text: o.textContent.trim(), selected: o.selected, disabled: o.disabled })),
  );
}

/** Picks `value` in a select, applies the controls and waits for the panels whose
 * variables change to load again. Returns the panels before and after. */
async function applyControls(s, fail, choices, token) {
  await fullBucket(token);
  const before = await panelStates(s.page);
  for (const [selector, value] of choices) await s.page.locator(selector).selectOption(value);
  const loads = await s.page.evaluate(() => ({ ...window.__boardTest.loads }));
  await s.page.locator('#apply').click();
  const previous = Object.fromEntries(before.map((p) => [p.panel, p.variables]));
  const changed = await s.page
    .waitForFunction(
      (previous) =>
        [...document.querySelectorAll('section.panel[data-panel]')].some(
          (p) => p.getAttribute('data-variables') !== previous[p.dataset.panel],
        ),
      previous,
      { timeout: 30_000 },
    )
    .then(() => true)
    .catch(() => false);
  if (!changed) fail(`no panel's data-variables changed after choosing ${choices.map((c) => c.join(' = ')).join(', ')} and #apply`);
  // The variables a panel will carry are set when it starts loading: wait for all of them.
  await s.page.waitForFunction(() => !document.querySelector('section.panel[data-state="loading"]'), null, { timeout: 60_000 }).catch(() => {});
  const middle = await panelStates(s.page);
  const reload = middle.filter((p) => previous[p.panel] !== p.variables).map((p) => p.panel);
  await waitReady(s, fail, { after: loads, reload });
  const after = await panelStates(s.page);
  return { before, after, reload, variables: Object.fromEntries(after.map((p) => [p.panel, p.variables && JSON.parse(p.variables)])) };
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

class Stop extends Error {}

const timings = {};
const sessions = [];
let analyst; // the board analyst's session, signed in by the URL fragment

console.log(`board test: ${board} (Chromium ${browser.version()}, playwright-core ${require('playwright-core/package.json').version}, axe-core ${require('axe-core/package.json').version})`);

/** Three page loads for each person: the first contentful paint and every panel ready,
 * each load in a new context (nothing cached), the median printed. */
async function timingRun() {
  const people = [['board analyst', analystToken], ['manager', managerToken]].filter(([, t]) => t);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [who, token] of people) {
    await check(`${who}: first paint and every panel ready, median of 3 page loads`, async (fail) => {
      const runs = [];
      for (let i = 0; i < 3; i++) {
        const s = await session(`${who} ${i + 1}`);
        try {
          await signInByFragment(s, token);
          await waitReady(s, fail, { timeout: 120_000 });
          const t = await timing(s.page);
          runs.push(t);
          info(`load ${i + 1}: first-contentful-paint ${Math.round(t.fcp)} ms, every panel ready ${t.readyAt === null ? 'never' : `${Math.round(t.readyAt)} ms`}`);
          checkQuiet(s, fail);
        } finally {
          await s.context.close();
        }
      }
      const fcp = median(runs.map((t) => t.fcp ?? Infinity));
      const ready = median(runs.map((t) => t.readyAt ?? Infinity));
      info(`timing (${who}), median of 3: first-contentful-paint ${Math.round(fcp)} ms, every panel ready ${Math.round(ready)} ms after navigation start`);
    });
  }
}

try {
  if (timingOnly) {
    await timingRun();
    throw new Stop('--timing-only: the other checks are not run');
  }
  const signedIn = await check('board analyst: signs in with /board#token=…, the fragment goes, every panel ready', async (fail) => {
    analyst = await session('board analyst');
    sessions.push(analyst);
    await signInByFragment(analyst, analystToken);
    await waitReady(analyst, fail);
    timings['board analyst'] = await timing(analyst.page);
    const url = analyst.page.url();
    if (url.includes('#') || url.includes(analystToken)) fail(`the address still holds the fragment: ${url.slice(0, 60)}…`);
    const stored = await analyst.page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie]));
    if (stored.includes(analystToken.slice(-20))) fail('the token is in localStorage, sessionStorage or a cookie');
    if ((await analyst.page.locator('#sign-out').isVisible()) !== true) fail('no visible #sign-out once signed in');
  });
  if (!signedIn) throw new Stop('the board analyst\'s page never got ready: the other checks are not run');

  await check('board analyst: every figure is the API\'s for the panel\'s query and variables; withheld ones show "c"', async (fail) => {
    const counts = await checkFigures(analyst, analystToken, fail);
    printCounts(counts);
    checkPageDocuments(analyst, fail);
    if (counts.figures === 0) fail('no [data-figure] on the whole page');
    if (counts.withheld === 0) fail('no withheld figure ("c") on the board analyst\'s page: the demo\'s publication withholds some');
    const alerts = counts.byPanel.alerts;
    if (alerts && !alerts.unavailable) fail('alerts: a board analyst is shown alert counts (the contract: data-unavailable="true")');
  });

  if (takeScreenshot) {
    await check('screenshot docs/board.png', async () => {
      await mkdir(join(root, 'docs'), { recursive: true });
      const path = join(root, 'docs/board.png');
      await analyst.page.evaluate(() => window.scrollTo(0, 0));
      await analyst.page.screenshot({ path, fullPage: true });
      info(path);
    });
  }

  await check('board analyst: the controls offer what a board analyst may ask', async (fail) => {
    const page = analyst.page;
    const asOf = await options(page, '#as-of');
    if (asOf.length === 0) fail('#as-of offers nothing');
    for (const o of asOf) if (!queries.isQuarterEnd?.(o.value)) fail(`#as-of offers ${o.value}, not a quarter end`);
    const chosen = await page.locator('#as-of').inputValue();
    const period = (await options(page, '#period')).map((o) => o.value);
    if (canon(period) !== canon(['quarter', 'year'])) fail(`#period offers ${period.join(', ')}, not quarter, year`);
    const p = queries.periodsAt(chosen);
    const sp = (await options(page, '#scorecard-period')).map((o) => o.value);
    const wantSp = ['window', ...p.windowYears.map((y) => y.from)];
    if (canon(sp) !== canon(wantSp)) fail(`#scorecard-period offers ${sp.join(', ')}, not ${wantSp.join(', ')}`);
    const all = (await graphql('{ authorities { id code } }', {}, analystToken)).data?.authorities ?? [];
    const auth = (await options(page, '#authority')).map((o) => o.value);
    const wantAuth = ['', ...all.map((a) => a.id)];
    if (canon([...auth].sort()) !== canon([...wantAuth].sort())) fail(`#authority offers ${auth.map((v) => v || '""').join(', ')}, not "" and every authority (${wantAuth.slice(1).join(', ')})`);
    info(`#as-of ${asOf.map((o) => o.value).join(', ')}; #period ${period.join(', ')}; #scorecard-period ${sp.join(', ')}; #authority "" + ${auth.length - 1} authorities`);
    if (await page.locator('#asglb').isVisible()) fail('the board analyst is shown the ASGLB return (#asglb), which is child-level data');
  });

  await check('signed out, Tab reaches #token and #sign-in; pasting a token and pressing #sign-in signs in; #sign-out forgets it', async (fail) => {
    const s = await session('pasted token');
    try {
      await s.page.goto(board, { waitUntil: 'load' });
      await signInOptions(s.page);
      const tab = await tabThrough(s.page);
      checkReached(tab, ['#token', '#sign-in', ...(oidc ? ['button.issuer-button'] : [])], fail, 'signed out');
      info(`tab order signed out: ${tab.order.join(' → ')}`);
      await signInByPasting(s, analystToken);
      await waitReady(s, fail);
      if (s.page.url().includes(analystToken)) fail('the token is in the address');
      if (await s.page.locator('textarea#token').isVisible()) fail('the sign-in form is still shown once signed in');
      await s.page.locator('#sign-out').click();
      await s.page.locator('textarea#token').waitFor({ state: 'visible', timeout: 5_000 }).catch(() => fail('no textarea#token after #sign-out'));
      const figures = await s.page.locator('[data-figure]:visible').count();
      if (figures) fail(`${figures} figures still visible after #sign-out`);
      checkQuiet(s, fail);
    } finally {
      await s.context.close();
    }
  });

  await check('keyboard: Tab from the top reaches every control, each with a visible focus ring', async (fail) => {
    const page = analyst.page;
    const required = ['#sign-out', ...FILTER_CONTROLS];
    for (const sel of required) if ((await page.locator(sel).count()) === 0) fail(`no ${sel} on the page`);
    const exports = await page.$$eval('[data-export]', (els) =>
      els.filter((e) => !e.disabled && e.offsetParent !== null).map((e) => e.getAttribute('data-export')),
    );
    if (exports.length === 0) fail('no enabled [data-export] on the page');
    const tab = await tabThrough(page);
    checkReached(tab, [...required, ...exports.map((e) => `[data-export="${e}"]`)], fail, 'signed in');
    info(`tab order: ${tab.order.join(' → ')}`);
  });

  await check('axe-core: no serious or critical violation, signed out and signed in', async (fail) => {
    // A context of its own that bypasses the page's Content-Security-Policy (script-src
    // 'self'), which refuses axe's injected script; every other session keeps it.
    const s = await session('axe', { bypassCSP: true });
    try {
      const run = async (label) => {
        await s.page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
        const result = await s.page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
        for (const v of result.violations) {
          const line = `${label}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} element(s), e.g. ${v.nodes[0]?.target?.join(' ')})`;
          if (v.impact === 'serious' || v.impact === 'critical') fail(line);
          else info(line);
        }
        info(`${label}: ${result.violations.length} violation(s) in all`);
      };
      await s.page.goto(board, { waitUntil: 'load' });
      await signInOptions(s.page);
      await run('signed out');
      await signInByPasting(s, analystToken);
      if (await waitReady(s, fail)) await run('signed in');
      // A manager's page has the ASGLB return's controls too.
      await s.page.locator('#sign-out').click();
      await signInByPasting(s, managerToken);
      if (await waitReady(s, fail)) {
        if (!(await s.page.locator('#asglb').isVisible())) fail('the manager\'s page shows no #asglb for axe to check');
        await run('signed in (manager)');
      }
      checkQuiet(s, fail);
    } finally {
      await s.context.close();
    }
  });

  await check('the export controls download CSVs whose first line is a header', async (fail) => {
    const page = analyst.page;
    const controls = await page.$$eval('section.panel[data-panel]', (els) =>
      els.map((el) => {
        const b = el.querySelector('[data-export]');
        return { panel: el.dataset.panel, file: b?.getAttribute('data-export') ?? null, disabled: !!b?.disabled, unavailable: el.getAttribute('data-unavailable') === 'true' };
      }),
    );
    const consortium = (await graphql('{ viewer { consortium { code } } }', {}, analystToken)).data?.viewer?.consortium?.code;
    await fullBucket(analystToken);
    const asOf = await page.locator('#as-of').inputValue();
    for (const c of controls) {
      if (c.file !== EXPORT_FILES[c.panel]) fail(`${c.panel}: [data-export] is ${JSON.stringify(c.file)}, not ${EXPORT_FILES[c.panel]}`);
      if (c.file === null || c.disabled) {
        if (!c.unavailable) fail(`${c.panel}: the export control is disabled`);
        continue;
      }
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 30_000 }),
        page.locator(`section.panel[data-panel="${c.panel}"] [data-export]`).click(),
      ]);
      const name = download.suggestedFilename();
      const path = join(artefacts, name || c.file);
      await download.saveAs(path);
      const failure = await download.failure();
      if (failure) {
        fail(`${c.panel}: the download failed: ${failure}`);
        continue;
      }
      const want = `${consortium}-${c.file.replace('.csv', '')}-${asOf}.csv`;
      if (name !== want) fail(`${c.panel}: saved as ${name}, not ${want}`);
      const lines = (await readFile(path, 'utf8')).split(/\r?\n/).filter((l) => l !== '');
      const header = lines[0] ?? '';
      const cells = header.split(',');
      if (cells.length < 2 || !cells.every((x) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(x))) fail(`${c.panel}: the first line is not a header: ${header.slice(0, 120)}`);
      if (lines.length < 2) fail(`${c.panel}: a header and no rows`);
      const error = await page.locator(`section.panel[data-panel="${c.panel}"] .export-error`).isVisible();
      if (error) fail(`${c.panel}: .export-error shown: ${await page.locator(`section.panel[data-panel="${c.panel}"] .export-error`).textContent()}`);
      info(`${c.panel}: ${name}, ${lines.length - 1} rows; ${header.slice(0, 90)}${header.length > 90 ? '…' : ''}`);
    }
  });

  await check('page.pdf (A4): a title page, then a page per panel', async (fail) => {
    const path = join(artefacts, 'board.pdf');
    await analyst.page.pdf({ path, format: 'A4', printBackground: true });
    const { stdout } = await promisify(execFile)('pdfinfo', [path]);
    const pages = Number(/^Pages:\s+(\d+)/m.exec(stdout)?.[1]);
    const size = /^Page size:\s+(.*)$/m.exec(stdout)?.[1] ?? '?';
    const panels = (await panelStates(analyst.page)).length;
    info(`${path}: ${pages} pages (${size}) for ${panels} panels`);
    if (!(pages >= 1 + panels)) fail(`${pages} pages; at least ${1 + panels} expected (a title page and one per panel)`);
    const [w, h] = (/^([\d.]+) x ([\d.]+)/.exec(size) ?? []).slice(1).map(Number);
    if (!(Math.abs(w - 595) < 3 && Math.abs(h - 842) < 3)) fail(`page size ${size}, not A4 portrait`);
  });

  await check('board analyst: #period, #scorecard-period and #authority reload the panels with their variables', async (fail) => {
    const page = analyst.page;
    const asOf = await page.locator('#as-of').inputValue();
    const p = queries.periodsAt(asOf);
    const year = p.windowYears[p.windowYears.length - 1].from;
    const all = (await graphql('{ authorities { id code } }', {}, analystToken)).data?.authorities ?? [];
    const one = all.find((a) => a.code === 'birch') ?? all[0];
    // 1. The financial year for funnel and flows, one year of the scorecard's window.
    let r = await applyControls(analyst, fail, [['#period', 'year'], ['#scorecard-period', year]], analystToken);
    info(`#period = year, #scorecard-period = ${year}: reloaded ${r.reload.join(', ')}`);
    for (const name of ['funnel', 'flows']) {
      if (canon(r.variables[name]?.period) !== canon(p.year)) fail(`${name}: period ${JSON.stringify(r.variables[name]?.period)}, not the year ${JSON.stringify(p.year)}`);
    }
    if (canon(r.variables.scorecard?.period) !== canon(p.windowYears.at(-1))) fail(`scorecard: period ${JSON.stringify(r.variables.scorecard?.period)}, not ${JSON.stringify(p.windowYears.at(-1))}`);
    for (const name of ['funnel', 'flows', 'scorecard']) if (!r.reload.includes(name)) fail(`${name} did not load again`);
    let counts = await checkFigures(analyst, analystToken, fail);
    info(`${counts.figures} figures checked (${counts.withheld} withheld)`);
    // 2. One authority: every panel but flows (published for the whole consortium) asks for it.
    r = await applyControls(analyst, fail, [['#authority', one.id]], analystToken);
    info(`#authority = ${one.code}: reloaded ${r.reload.join(', ')}`);
    for (const name of ['scorecard', 'funnel', 'sufficiency']) {
      if (canon(r.variables[name]?.authorityIds) !== canon([one.id])) fail(`${name}: authorityIds ${JSON.stringify(r.variables[name]?.authorityIds)}, not [${one.id}]`);
    }
    counts = await checkFigures(analyst, analystToken, fail);
    info(`${counts.figures} figures checked (${counts.withheld} withheld)`);
    // 3. Another as-at date, when more than one quarter is published.
    const dates = (await options(page, '#as-of')).map((o) => o.value).filter((d) => d !== asOf);
    if (dates.length) {
      r = await applyControls(analyst, fail, [['#as-of', dates[0]]], analystToken);
      if (r.variables.scorecard?.asOf !== dates[0]) fail(`#as-of = ${dates[0]}: the scorecard asks as at ${r.variables.scorecard?.asOf}`);
      counts = await checkFigures(analyst, analystToken, fail);
      info(`#as-of = ${dates[0]}: ${counts.figures} figures checked`);
    } else {
      info('one published quarter: #as-of offers nothing else (the manager changes it below)');
    }
    checkPageDocuments(analyst, fail);
    await applyControls(analyst, fail, [['#period', 'quarter'], ['#scorecard-period', 'window'], ['#authority', '']], analystToken);
  });

  let managerSession = null;
  await check('manager: its own authority\'s figures, the authority filter its roles allow, #as-of reloads', async (fail) => {
    const s = await session('manager');
    managerSession = s;
    sessions.push(s);
    await signInByFragment(s, managerToken);
    if (!(await waitReady(s, fail))) return;
    timings.manager = await timing(s.page);
    const viewer = (await graphql('{ viewer { memberships { authority { id code } roles } consortiumRoles } }', {}, managerToken)).data?.viewer;
    const own = (viewer?.memberships ?? []).filter((m) => m.roles.some((r) => REPORT_ROLES.includes(r))).map((m) => m.authority);
    const offered = (await options(s.page, '#authority')).map((o) => o.value);
    const want = ['', ...(own.length > 1 ? own.map((a) => a.id) : [])];
    info(`own authorities: ${own.map((a) => a.code).join(', ')}; #authority offers ${offered.map((v) => v || '""').join(', ')}`);
    if (canon([...offered].sort()) !== canon([...want].sort())) fail(`#authority offers ${offered.map((v) => v || '""').join(', ')}, not ${want.map((v) => v || '""').join(', ')}`);
    let counts = await checkFigures(s, managerToken, fail);
    printCounts(counts);
    checkPageDocuments(s, fail);
    const codes = own.map((a) => a.code);
    for (const code of codes) {
      if (!counts.paths.some((path) => path.startsWith(`scorecard.period.authorities[${code}].`))) fail(`no scorecard figure of the manager's own ${code}`);
    }
    const others = counts.paths.filter((path) => /^(scorecard\.period\.authorities|recruitmentFunnel\.groups)\[([^\]]+)\]/.test(path) && !codes.includes(/\[([^\]]+)\]/.exec(path)[1]));
    if (others.length) fail(`figures of authorities not the manager's own: ${others.slice(0, 3).join(', ')}`);
    if (counts.byPanel.alerts?.unavailable) fail('alerts: unavailable to a manager of its own authority');
    // An earlier quarter end.
    const asOf = await s.page.locator('#as-of').inputValue();
    const dates = (await options(s.page, '#as-of')).map((o) => o.value);
    const earlier = dates.find((d) => d < asOf);
    if (!earlier) {
      fail(`#as-of offers no quarter end before ${asOf} (${dates.join(', ')})`);
    } else {
      const r = await applyControls(s, fail, [['#as-of', earlier]], managerToken);
      info(`#as-of = ${earlier}: reloaded ${r.reload.join(', ')}`);
      for (const name of ['scorecard', 'funnel', 'sufficiency', 'alerts']) {
        if (r.variables[name]?.asOf !== earlier) fail(`${name}: asOf ${r.variables[name]?.asOf}, not ${earlier}`);
        if (!r.reload.includes(name)) fail(`${name} did not load again`);
      }
      const q = queries.periodsAt(earlier).quarter;
      if (canon(r.variables.funnel?.period) !== canon(q)) fail(`funnel: period ${JSON.stringify(r.variables.funnel?.period)}, not the quarter ${JSON.stringify(q)}`);
      counts = await checkFigures(s, managerToken, fail);
      info(`${counts.figures} figures checked again`);
    }
    checkQuiet(s, fail);
  });

  await check('manager: the ASGLB return downloads both CSVs and the workbook; Tab reaches its controls', async (fail) => {
    const s = managerSession;
    if (!s) return fail('no manager session');
    const page = s.page;
    if (!(await page.locator('#asglb').isVisible())) return fail('no visible #asglb for a manager');
    const quarters = (await options(page, '#asglb-quarter')).map((o) => o.value);
    if (!quarters.length || !quarters.every((q) => queries.isQuarterEnd(q))) fail(`#asglb-quarter offers ${quarters.join(', ')}`);
    const quarter = await page.locator('#asglb-quarter').inputValue();
    const consortium = (await graphql('{ viewer { consortium { code } } }', {}, managerToken)).data?.viewer?.consortium?.code;
    const tab = await tabThrough(page);
    checkReached(tab, ['#asglb-quarter', ...ASGLB_BUTTONS], fail, 'manager');
    const want = {
      '#asglb-adoptions': `${consortium}-asglb-adoptions-${quarter}.csv`,
      '#asglb-adopters': `${consortium}-asglb-adopters-${quarter}.csv`,
      '#asglb-xlsx': `${consortium}-asglb-${quarter}.xlsx`,
    };
    for (const button of ASGLB_BUTTONS) {
      await fullBucket(managerToken);
      const served = page.waitForResponse((r) => new URL(r.url()).pathname.startsWith('/export/asglb'), { timeout: 60_000 });
      const downloaded = page.waitForEvent('download', { timeout: 60_000 }).catch(() => null);
      await page.locator(button).click();
      const response = await served.catch(() => null);
      if (!response || response.status() !== 200) {
        await page.locator('#asglb-error').waitFor({ state: 'visible', timeout: 5_000 }).catch(() => {});
        fail(`${button}: ${response ? `${response.status()} from ${new URL(response.url()).pathname}` : 'no request'}; the page says: ${(await page.locator('#asglb-error').textContent())?.trim()}`);
        continue;
      }
      const download = await downloaded;
      if (!download) {
        fail(`${button}: no download`);
        continue;
      }
      const name = download.suggestedFilename();
      if (name !== want[button]) fail(`${button}: saved as ${name}, not ${want[button]}`);
      const path = join(artefacts, name);
      await download.saveAs(path);
      const bytes = await readFile(path);
      if (button === '#asglb-xlsx') {
        if (bytes.subarray(0, 2).toString('latin1') !== 'PK') fail(`${button}: the workbook does not start with the ZIP signature PK`);
        info(`${name}: ${bytes.length} bytes`);
      } else {
        const lines = bytes.toString('utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l !== '');
        const cells = (lines[0] ?? '').split(',');
        if (cells.length < 2 || cells.some((c) => c.trim() === '' || /^\d/.test(c.trim()))) fail(`${button}: the first line is not a header: ${(lines[0] ?? '').slice(0, 120)}`);
        info(`${name}: ${lines.length - 1} rows; ${(lines[0] ?? '').slice(0, 90)}`);
      }
      if (await page.locator('#asglb-error').isVisible()) fail(`${button}: #asglb-error shown: ${await page.locator('#asglb-error').textContent()}`);
    }
  });

  if (oidc) {
    await check(`OpenID Connect: "Sign in with ${oidc.label}" goes to the provider and back signed in with the account's figures; nothing kept`, async (fail) => {
      const s = await session('provider sign-in', { allow: [oidc.origin] });
      sessions.push(s);
      const response = await s.page.goto(board, { waitUntil: 'load' });
      const csp = response.headers()['content-security-policy'] ?? '';
      const connect = /(?:^|;)\s*connect-src ([^;]*)/.exec(csp)?.[1]?.trim();
      if (connect !== `'self' ${oidc.origin}`) fail(`connect-src is ${JSON.stringify(connect)}, not 'self' and the token endpoint's origin ${oidc.origin}`);
      const config = await (await fetch(`${origin}/board/config.json`)).json();
      info(`config.json: paste_token ${config.paste_token}; ${config.issuers.map((i) => `${i.name} (${i.label}): ${i.token_endpoint}`).join('; ')}`);
      const tokenOf = await signInWithProvider(s);
      await s.page.waitForFunction(() => !window.location.search && !window.location.hash, null, { timeout: 5_000 }).catch(() => {});
      const address = new URL(s.page.url());
      if (address.search || address.hash) fail(`the address still holds ${address.search.replace(/code=[^&]*/, 'code=…')}${address.hash}`);
      if (!(await waitReady(s, fail))) return;
      const token = tokenOf();
      if (!token) return fail('the page got no access token from the token endpoint');
      if (s.page.url().includes(token)) fail('the token is in the address');
      const stored = await s.page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, document.cookie]));
      if (stored.includes(token.slice(-20))) fail('the token is in localStorage, sessionStorage or a cookie');
      const left = await s.page.evaluate(() => sessionStorage.length + localStorage.length);
      if (left) fail(`${left} item(s) left in sessionStorage/localStorage after the return (the verifier, state and nonce go at once)`);
      for (const c of await s.context.cookies(origin)) if (c.value.includes(token.slice(-20))) fail(`the token is in the cookie ${c.name}`);
      const who = (await s.page.locator('#signed-in-as').textContent()) ?? '';
      info(who.trim());
      const counts = await checkFigures(s, token, fail);
      printCounts(counts);
      if (!counts.paths.some((path) => path.startsWith('scorecard.period.authorities[alder].'))) fail('no scorecard figure of alder, the account\'s authority');
      checkPageDocuments(s, fail);
      checkQuiet(s, fail);
      // The policy: the provider's origin, and nothing else beyond the page's own.
      const other = oidc.origin.replace('127.0.0.1', 'localhost');
      const blocked = await s.page.evaluate(async (url) => {
        const seen = new Promise((resolve) => {
          document.addEventListener('securitypolicyviolation', (e) => resolve(`${e.effectiveDirective} ${e.blockedURI}`), { once: true });
          setTimeout(() => resolve(null), 3_000);
        });
        const fetched = await fetch(url).then(() => 'fetched', () => 'refused');
        return { fetched, violation: await seen };
      }, `${other}/alder/token`);
      if (blocked.fetched !== 'refused' || !blocked.violation?.startsWith('connect-src')) fail(`a fetch to ${other} was not refused by the policy: ${JSON.stringify(blocked)}`);
      s.seen.consoleErrors = s.seen.consoleErrors.filter((e) => !e.includes(other));
      s.seen.failed = s.seen.failed.filter((e) => !e.includes(other));
    });

    await check('OpenID Connect: an error return of the provider is shown in the sign-in area, as text', async (fail) => {
      const s = await session('provider error', { allow: [oidc.origin] });
      try {
        await s.page.goto(board, { waitUntil: 'load' });
        await signInWithProvider(s, { cancel: true });
        await s.page.waitForFunction(() => !window.location.search, null, { timeout: 5_000 }).catch(() => {});
        const error = s.page.locator('#sign-in-error');
        await error.waitFor({ state: 'visible', timeout: 10_000 }).catch(() => fail('no #sign-in-error shown'));
        const text = (await error.textContent()) ?? '';
        info(`#sign-in-error: ${text.trim()}`);
        if (!text.includes('access_denied')) fail(`#sign-in-error does not name the provider's error: ${text}`);
        if (!text.includes('<b>at the provider</b>')) fail('the provider\'s error_description is not shown as text');
        if (await error.locator('b').count()) fail('the provider\'s error_description became markup');
        const address = new URL(s.page.url());
        if (address.search) fail(`the address still holds ${address.search}`);
        if (await s.page.evaluate(() => sessionStorage.length)) fail('sessionStorage still holds the sign-in under way');
        if (!(await s.page.getByRole('button', { name: `Sign in with ${oidc.label}` }).isVisible())) fail('the sign-in button is not offered again');
        checkQuiet(s, fail);
      } finally {
        await s.context.close();
      }
    });
  }

  await check(`first paint, and every panel ready within ${READY_LIMIT_MS / 1000} s of navigation`, async (fail) => {
    if (!timings['board analyst']) fail('the board analyst\'s page was never measured');
    for (const [who, t] of Object.entries(timings)) {
      const fcp = t.fcp === null ? 'none' : `${Math.round(t.fcp)} ms`;
      const ready = t.readyAt === null ? 'never' : `${Math.round(t.readyAt)} ms`;
      info(`timing (${who}): first-contentful-paint ${fcp}, every panel ready ${ready} after navigation start`);
      if (t.readyAt === null) fail(`${who}: the panels were never all ready`);
      else if (t.readyAt > READY_LIMIT_MS) fail(`${who}: every panel ready only ${Math.round(t.readyAt)} ms after navigation start`);
    }
  });

  await check('no console error, uncaught exception, failed request or request to another origin', async (fail) => {
    for (const s of sessions) checkQuiet(s, fail);
  });
} catch (error) {
  if (!(error instanceof Stop)) throw error;
  console.log(`\nstopped: ${error.message}`);
} finally {
  for (const s of sessions) {
    await s.page.screenshot({ path: join(artefacts, `${s.label.replaceAll(' ', '-')}.png`), fullPage: true }).catch(() => {});
  }
  await browser.close();
}

const failed = outcomes.filter((o) => o.problems.length > 0).length;
console.log(`\nartefacts: ${artefacts}`);
console.log(`${outcomes.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
