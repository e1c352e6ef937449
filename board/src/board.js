// The board pack page: sign-in, the controls, and the five panels, each filled from one
// GraphQL operation of `queries.js` sent as the signed-in person. See board/README.md
// for the contract the browser test holds the page to.
import './board.css';
import { ApiError, download, graphql, hasToken, setToken, whenUnauthenticated } from './api.js';
import { h, replace } from './dom.js';
import * as words from './labels.js';
import * as oidc from './oidc.js';
import * as alerts from './panels/alerts.js';
import * as flows from './panels/flows.js';
import * as funnel from './panels/funnel.js';
import * as scorecard from './panels/scorecard.js';
import * as sufficiency from './panels/sufficiency.js';
import {
  EXPORTS,
  PUBLISHED_QUARTERS_QUERY,
  QUERIES,
  VIEWER_QUERY,
  isQuarterEnd,
  latestQuarterEnd,
  panelVariables,
  periodsAt,
  quarterEndsBack,
} from './queries.js';
import * as trendChart from './trend-chart.js';

const PANELS = { scorecard, funnel, flows, sufficiency, alerts };

/** The roles that read an authority's reports as they are. */
const REPORT_ROLES = ['MANAGER', 'DECISION_MAKER', 'RECRUITMENT_OFFICER'];

/**
 * The ASGLB return's files (`GET /export/<file>?quarter=…`) and the roles that may have
 * each tab; the workbook holds the tabs the caller may have.
 */
const ASGLB = {
  adoptions: { file: 'asglb-adoptions.csv', roles: ['MANAGER', 'DECISION_MAKER', 'FAMILY_FINDER', 'SOCIAL_WORKER'], accept: 'text/csv' },
  adopters: { file: 'asglb-adopters.csv', roles: ['MANAGER', 'DECISION_MAKER', 'FAMILY_FINDER', 'RECRUITMENT_OFFICER'], accept: 'text/csv' },
  xlsx: { file: 'asglb.xlsx', roles: null, accept: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' },
};

const $ = (selector) => document.querySelector(selector);

/** What the page knows about the signed-in person and the figures shown. */
const state = {
  viewer: null,
  authorities: [],
  /** `published`: a board analyst, answered from the quarterly publication. */
  mode: 'own',
  own: [],
  trendMeasure: 'a1',
  lastData: {},
  lastContext: null,
  /** Which apply is current: answers of an earlier one are dropped. */
  generation: 0,
  /** Why no date may be asked for, if none may (the API's words). */
  asOfProblem: null,
  /** How the server lets people sign in (`/board/config.json`). */
  config: { pasteToken: true, issuers: [] },
  /** Ends the session when the token expires. */
  expiry: null,
};

// ---------------------------------------------------------------------------------------
// Sign-in

/** A token in the address's fragment (`#token=…`, the demo's link): taken and removed. */
function tokenFromFragment() {
  const hash = window.location.hash;
  if (!hash || hash.length < 2) return null;
  const params = new URLSearchParams(hash.slice(1));
  const token = params.get('token');
  // The fragment goes, whatever it held: a token must not stay in the address or history.
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  return token && token.trim() ? token.trim() : null;
}

function showSignInError(message) {
  const p = $('#sign-in-error');
  p.textContent = message;
  p.hidden = !message;
}

async function signIn(token, expiresIn = null) {
  showSignInError('');
  setToken(token);
  $('#sign-in').disabled = true;
  try {
    const data = await graphql(VIEWER_QUERY, {});
    state.viewer = data.viewer;
    state.authorities = data.authorities;
  } catch (e) {
    setToken(null);
    showSignInError(`Could not sign in: ${e instanceof ApiError ? e.messages.join(' ') : e.message}`);
    return;
  } finally {
    $('#sign-in').disabled = false;
  }
  $('#token').value = '';
  clearTimeout(state.expiry);
  if (expiresIn) {
    // The token's end is the session's: back to the sign-in, saying why.
    state.expiry = setTimeout(expire, Math.min(expiresIn * 1000, 2 ** 31 - 1));
  }
  const v = state.viewer;
  state.own = v.memberships
    .filter((m) => m.authority && m.roles.some((r) => REPORT_ROLES.includes(r)))
    .map((m) => m.authority);
  state.mode = v.consortiumRoles.includes('BOARD_ANALYST') ? 'published' : 'own';
  const roles = [
    ...v.consortiumRoles.map((r) => r.toLowerCase().replaceAll('_', ' ')),
    ...v.memberships.flatMap((m) => m.roles.map((r) => `${r.toLowerCase().replaceAll('_', ' ')}, ${m.authority ? m.authority.name : '—'}`)),
  ];
  $('#signed-in-as').textContent = `Signed in as ${v.name || v.subject} (${roles.join('; ') || 'no roles'}), ${v.consortium.name}`;
  $('#who').hidden = false;
  $('#sign-in-section').hidden = true;
  $('#board').hidden = false;
  $('#paper-consortium').textContent = `${v.consortium.name} (${v.consortium.code})`;
  fillAuthorities();
  fillAsglb();
  await fillAsOf();
  fillPeriods();
  $('#main').focus();
  await apply();
}

/** The session ended by the token's expiry (or its refusal): back to the sign-in. */
function expire() {
  if (!state.viewer) return;
  signOut();
  showSignInError('Your sign-in has ended (the access token expired or was refused). Sign in again to see the figures.');
  $('#status').textContent = 'Signed out: the sign-in ended.';
}

/** The first sign-in control shown. */
function firstSignInControl() {
  return $('#issuer-sign-in:not([hidden]) button') || $('#token');
}

function signOut() {
  clearTimeout(state.expiry);
  state.expiry = null;
  setToken(null);
  state.generation += 1;
  state.viewer = null;
  state.authorities = [];
  state.lastData = {};
  trendChart.destroy();
  for (const section of document.querySelectorAll('section.panel')) {
    section.dataset.state = 'loading';
    delete section.dataset.variables;
    delete section.dataset.unavailable;
    replace(section.querySelector('.panel-body'));
    setError(section, null);
  }
  for (const id of ['#as-of', '#period', '#scorecard-period', '#authority', '#asglb-quarter']) replace($(id));
  $('#asglb').hidden = true;
  $('#asglb-error').hidden = true;
  $('#board').hidden = true;
  $('#who').hidden = true;
  $('#sign-in-section').hidden = false;
  $('#status').textContent = 'Signed out.';
  firstSignInControl().focus();
}

// ---------------------------------------------------------------------------------------
// Signing in with an identity provider

/** The "Sign in with …" buttons of the issuers the server offers, and the paste form. */
function showSignInOptions() {
  const box = $('#issuer-sign-in');
  replace(
    box,
    state.config.issuers.map((issuer) =>
      h('button', { type: 'button', class: 'issuer-button', 'data-issuer': issuer.name }, `Sign in with ${issuer.label}`)),
  );
  box.hidden = state.config.issuers.length === 0;
  $('#sign-in-form').hidden = !state.config.pasteToken;
  if (!state.config.pasteToken && state.config.issuers.length === 0) {
    showSignInError('No way of signing in is configured for this service.');
  }
}

async function startIssuerSignIn(name) {
  const issuer = state.config.issuers.find((i) => i.name === name);
  if (!issuer) return;
  showSignInError('');
  try {
    await oidc.start(issuer);
  } catch (e) {
    showSignInError(`The sign-in with ${issuer.label} could not be started: ${e.message}`);
  }
}

/** The provider's answer in the address, if any: the sign-in completed, or its error shown. */
async function finishIssuerSignIn(returned) {
  $('#status').textContent = 'Completing the sign-in…';
  try {
    const { token, expiresIn } = await oidc.finish(returned, state.config.issuers);
    $('#status').textContent = '';
    await signIn(token, expiresIn);
  } catch (e) {
    $('#status').textContent = '';
    showSignInError(e instanceof oidc.SignInError ? e.message : `The sign-in could not be completed: ${e.message}`);
    firstSignInControl().focus();
  }
}

// ---------------------------------------------------------------------------------------
// The ASGLB return

/** The roles the person holds in any of their authorities. */
function memberRoles() {
  return new Set(state.viewer.memberships.flatMap((m) => m.roles));
}

/** The ASGLB section: shown with the downloads the person's roles may have, if any. */
function fillAsglb() {
  const roles = memberRoles();
  const may = (tab) => ASGLB[tab].roles.some((r) => roles.has(r));
  const tabs = { adoptions: may('adoptions'), adopters: may('adopters') };
  tabs.xlsx = tabs.adoptions || tabs.adopters;
  for (const button of document.querySelectorAll('[data-asglb]')) button.hidden = !tabs[button.dataset.asglb];
  const today = new Date().toISOString().slice(0, 10);
  const quarters = quarterEndsBack(latestQuarterEnd(today), 12);
  replace(
    $('#asglb-quarter'),
    quarters.map((d, i) => option(d, `${words.date(d)}${i === 0 ? ' (latest)' : ''}`, i === 0)),
  );
  $('#asglb-error').hidden = true;
  $('#asglb').hidden = !tabs.xlsx;
}

async function exportAsglb(button) {
  const tab = ASGLB[button.dataset.asglb];
  const quarter = $('#asglb-quarter').value;
  const error = $('#asglb-error');
  error.hidden = true;
  const consortium = state.viewer.consortium.code;
  const saveAs = button.dataset.asglb === 'xlsx'
    ? `${consortium}-asglb-${quarter}.xlsx`
    : `${consortium}-asglb-${button.dataset.asglb}-${quarter}.csv`;
  const label = button.textContent;
  button.disabled = true;
  button.textContent = 'Downloading…';
  try {
    await download(tab.file, { quarter }, saveAs, tab.accept);
    $('#status').textContent = `Saved ${saveAs}.`;
  } catch (e) {
    error.textContent = `The ASGLB return could not be downloaded: ${e instanceof ApiError ? e.messages.join(' ') : e.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

// ---------------------------------------------------------------------------------------
// Controls

function option(value, text, selected) {
  return h('option', { value, selected: selected || null }, text);
}

/** The authority filter: what the person's roles allow. */
function fillAuthorities() {
  const select = $('#authority');
  const hint = $('#authority-hint');
  if (state.mode === 'published') {
    replace(
      select,
      option('', `The whole consortium (${state.viewer.consortium.name})`, true),
      state.authorities.map((a) => option(a.id, a.name)),
    );
    hint.textContent = 'Figures are published for each authority and for the whole consortium.';
  } else {
    const names = state.own.map((a) => a.name).join(', ');
    replace(
      select,
      option('', state.own.length > 1 ? `All your authorities (${names})` : `Your authority${names ? ` (${names})` : ''}`, true),
      state.own.length > 1 ? state.own.map((a) => option(a.id, a.name)) : [],
    );
    hint.textContent = 'Your own authorities’ figures, as they are.';
  }
}

/**
 * The dates the figures may be asked as at. A board analyst: the quarter ends the
 * consortium has published (`publishedQuarterEnds`, latest first). Staff: the completed
 * quarter ends of the last three years.
 */
async function fillAsOf() {
  const select = $('#as-of');
  const hint = $('#as-of-hint');
  setControlsError(null);
  let dates = [];
  state.asOfProblem = null;
  if (state.mode === 'published') {
    try {
      const data = await graphql(PUBLISHED_QUARTERS_QUERY, {});
      dates = data.publishedQuarterEnds.filter(isQuarterEnd);
      if (!dates.length) {
        state.asOfProblem = 'No figures can be shown yet: figures beyond your own authorities are served from the consortium’s quarterly publication, and none has been made yet.';
      }
    } catch (e) {
      const text = e instanceof ApiError ? e.messages.join(' ') : e.message;
      state.asOfProblem = `No figures can be shown yet: ${text}`;
    }
    if (state.asOfProblem) setControlsError(`${state.asOfProblem} Try again later with “Show figures”.`);
    hint.textContent = 'Published quarter ends: board figures come from the consortium’s quarterly publication.';
  } else {
    const today = new Date().toISOString().slice(0, 10);
    dates = quarterEndsBack(latestQuarterEnd(today), 12);
    hint.textContent = 'Completed quarter ends.';
  }
  replace(
    select,
    dates.map((d, i) => option(d, `${words.date(d)}${i === 0 ? ' (latest)' : ''}`, i === 0)),
  );
  select.disabled = dates.length === 0;
}

/** The periods of the as-at date chosen. */
function fillPeriods() {
  const asOf = $('#as-of').value;
  const period = $('#period');
  const scorecardPeriod = $('#scorecard-period');
  const keepPeriod = period.value || 'quarter';
  const keepScorecard = scorecardPeriod.value || 'window';
  if (!asOf) {
    replace(period);
    replace(scorecardPeriod);
    return;
  }
  const p = periodsAt(asOf);
  replace(
    period,
    option('quarter', `The quarter: ${words.period(p.quarter)}`, keepPeriod === 'quarter'),
    option('year', `The financial year: ${words.period(p.year)}`, keepPeriod === 'year'),
  );
  replace(
    scorecardPeriod,
    option('window', `Three years: ${words.period(p.window)}`, true),
    p.windowYears.map((y) => option(y.from, `The year ${words.financialYear(y)}: ${words.period(y)}`, keepScorecard === y.from)),
  );
}

function setControlsError(message) {
  const p = $('#controls-error');
  p.textContent = message || '';
  p.hidden = !message;
}

// ---------------------------------------------------------------------------------------
// Panels

function setError(section, messages) {
  const box = section.querySelector('.panel-error');
  if (!messages) {
    replace(box);
    box.hidden = true;
    return;
  }
  replace(
    box,
    h('p', {}, 'The figures could not be shown. The service said:'),
    h('ul', {}, messages.map((m) => h('li', {}, m))),
  );
  box.hidden = false;
}

function authorityName(authority) {
  if (!authority) return 'Other authorities';
  const known = state.authorities.find((a) => a.id === authority.id || a.code === authority.code);
  return (known || authority).name;
}

/** What the controls ask for, and the variables and export parameters of every panel. */
function choice() {
  const asOf = $('#as-of').value;
  const period = $('#period').value || 'quarter';
  const scorecardPeriod = $('#scorecard-period').value || 'window';
  const authorityId = $('#authority').value;
  const authority = state.authorities.find((a) => a.id === authorityId) || null;
  const authorityIds = authority ? [authority.id] : null;
  // A board analyst's flows are published for the whole consortium only.
  const flowsAuthorityIds = state.mode === 'published' ? null : authorityIds;
  // A board analyst's funnel by channel is published for the whole consortium only.
  const funnelByChannel = !(state.mode === 'published' && authority);
  const variables = panelVariables({ asOf, period, scorecardPeriod, authorityIds, flowsAuthorityIds, funnelByChannel });
  const codes = authority ? { authorities: authority.code } : {};
  const exports = {
    scorecard: { asOf, from: variables.scorecard.period.from, to: variables.scorecard.period.to, ...codes },
    funnel: { from: variables.funnel.period.from, to: variables.funnel.period.to, asOf, groupBy: 'AUTHORITY', ...codes },
    flows: { from: variables.flows.period.from, to: variables.flows.period.to, ...(state.mode === 'published' ? {} : codes) },
    sufficiency: { asOf, ...codes },
    alerts: { asOf, ...codes },
  };
  let scopeLabel;
  if (authority) scopeLabel = authority.name;
  else if (state.mode === 'published') scopeLabel = `the whole consortium (${state.viewer.consortium.name})`;
  else scopeLabel = state.own.length ? state.own.map((a) => a.name).join(', ') : 'your authorities';
  return { asOf, period, scorecardPeriod, authority, variables, exports, scopeLabel };
}

function panelContext(c, name) {
  const context = {
    asOf: c.asOf,
    scopeLabel: c.scopeLabel,
    totalLabel: c.authority ? `${c.authority.name} (total)` : state.mode === 'published' ? 'Consortium' : 'All your authorities',
    authorityName,
    trendMeasure: state.trendMeasure,
  };
  if (name === 'flows' && state.mode === 'published') {
    context.totalLabel = 'Consortium';
    if (c.authority) {
      context.highlight = c.authority.code;
      context.flowsNote = `Flows are published for the whole consortium only; ${c.authority.name}’s row and column are marked.`;
    }
  }
  return context;
}

/** Shows the figures the controls ask for: every panel loaded at once. */
async function apply() {
  if (!hasToken()) return;
  const generation = ++state.generation;
  if (!$('#as-of').value) {
    // Nothing may be asked yet (a board analyst before the first publication).
    trendChart.destroy();
    for (const section of document.querySelectorAll('section.panel')) {
      delete section.dataset.variables;
      replace(section.querySelector('.panel-body'));
      setError(section, [state.asOfProblem || 'There is no date to show the figures as at.']);
      section.dataset.state = 'error';
    }
    $('#status').textContent = 'No figures can be shown yet.';
    return;
  }
  const c = choice();
  state.lastContext = c;
  updatePaper(c);
  $('#status').textContent = 'Loading the figures…';
  const runs = Object.keys(PANELS).map((name) => loadPanel(name, c, generation));
  const results = await Promise.all(runs);
  if (generation !== state.generation) return;
  const failed = results.filter((ok) => !ok).length;
  $('#status').textContent = failed
    ? `Figures shown; ${failed} panel${failed > 1 ? 's' : ''} could not be shown (the reasons are in ${failed > 1 ? 'them' : 'it'}).`
    : `Figures shown as at ${words.date(c.asOf)}.`;
}

async function loadPanel(name, c, generation) {
  const section = document.querySelector(`section.panel[data-panel="${name}"]`);
  const body = section.querySelector('.panel-body');
  const exportButton = section.querySelector('[data-export]');
  section.querySelector('.export-error').hidden = true;
  setError(section, null);
  delete section.dataset.unavailable;
  if (name === 'scorecard') trendChart.destroy();
  replace(body, h('p', { class: 'loading' }, 'Loading…'));
  section.dataset.state = 'loading';
  section.setAttribute('aria-busy', 'true');

  if (name === 'alerts' && state.own.length === 0 && state.viewer.memberships.length === 0) {
    // Alerts are records of an authority: only its own staff see them.
    delete section.dataset.variables;
    section.dataset.unavailable = 'true';
    exportButton.disabled = true;
    replace(
      body,
      h('p', { class: 'note' }, 'Alerts are about individual children and households, so only the staff of their own authority see them. Board analysts are not shown alert counts.'),
    );
    section.dataset.state = 'ready';
    section.removeAttribute('aria-busy');
    return true;
  }
  exportButton.disabled = false;
  const variables = c.variables[name];
  section.dataset.variables = JSON.stringify(variables);
  try {
    const data = await graphql(QUERIES[name], variables);
    if (generation !== state.generation) return true;
    state.lastData[name] = data;
    const context = panelContext(c, name);
    replace(body, PANELS[name].render(data, context));
    if (name === 'scorecard') drawTrend();
    markScrollable(body);
    section.dataset.state = 'ready';
    return true;
  } catch (e) {
    if (generation !== state.generation) return true;
    replace(body);
    setError(section, e instanceof ApiError ? e.messages : [e.message]);
    section.dataset.state = 'error';
    return false;
  } finally {
    if (generation === state.generation) section.removeAttribute('aria-busy');
  }
}

/**
 * A table wider than the page scrolls in its box: the box then takes the keyboard focus
 * (with the table's caption as its name), so that it can be scrolled without a mouse.
 */
function markScrollable(root) {
  for (const wrap of root.querySelectorAll('.table-wrap')) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      wrap.setAttribute('tabindex', '0');
      wrap.setAttribute('role', 'region');
      wrap.setAttribute('aria-label', wrap.querySelector('caption')?.textContent || 'Table');
    } else {
      wrap.removeAttribute('tabindex');
      wrap.removeAttribute('role');
      wrap.removeAttribute('aria-label');
    }
  }
}

function drawTrend() {
  const data = state.lastData.scorecard;
  const canvas = document.getElementById('trend-chart');
  if (!data || !canvas) return;
  const context = panelContext(state.lastContext, 'scorecard');
  const series = scorecard.trendSeries(data.trend, state.trendMeasure, context);
  const none = series.series.every((s) => s.values.every((v) => v === null));
  document.getElementById('trend-caption').textContent =
    `${series.title}, by financial year: ${series.series.map((s) => s.label).join(', ')}` +
    `${series.threshold !== null ? `, and the threshold of ${series.threshold} days` : ''}. ` +
    (none
      ? 'No figure of this measure is shown for these years (each is withheld or missing): choose another measure, or read the table below. '
      : 'A withheld or missing figure leaves a gap. The table below gives every figure.');
  trendChart.draw(canvas, series);
}

async function exportPanel(button) {
  const section = button.closest('section.panel');
  const name = section.dataset.panel;
  const c = state.lastContext || choice();
  const error = section.querySelector('.export-error');
  error.hidden = true;
  const file = EXPORTS[name];
  const saveAs = `${state.viewer.consortium.code}-${file.replace('.csv', '')}-${c.asOf}${c.authority ? `-${c.authority.code}` : ''}.csv`;
  button.disabled = true;
  const label = button.firstChild.textContent;
  button.firstChild.textContent = 'Downloading…';
  try {
    await download(file, c.exports[name], saveAs);
    $('#status').textContent = `Saved ${saveAs}.`;
  } catch (e) {
    error.textContent = `The CSV could not be downloaded: ${e instanceof ApiError ? e.messages.join(' ') : e.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.firstChild.textContent = label;
  }
}

// ---------------------------------------------------------------------------------------
// The paper (print)

function updatePaper(c) {
  const p = periodsAt(c.asOf);
  $('#paper-authorities').textContent = c.scopeLabel.charAt(0).toUpperCase() + c.scopeLabel.slice(1);
  $('#paper-as-of').textContent = words.date(c.asOf);
  $('#paper-period').textContent = c.period === 'year' ? `The financial year ${words.period(p.year)}` : `The quarter ${words.period(p.quarter)}`;
  const sp = c.variables.scorecard.period;
  $('#paper-scorecard-period').textContent = words.period(sp);
  const now = new Date();
  $('#paper-retrieved').textContent = `${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const note =
    state.mode === 'published'
      ? 'These figures are the consortium’s quarterly publication as at the quarter end. Figures about authorities are under disclosure control: a count of 1 to 5 is withheld, and so is a percentage or mean resting on too few cases; further figures are withheld so that none can be worked out from the others by differencing, decided once over every table of the publication and audited. A figure is shown or withheld alike wherever it appears.'
      : 'These are your own authorities’ figures, as they are (not under disclosure control). Do not publish them without applying disclosure control: counts of 1 to 5, and percentages or means resting on few cases, could identify children or families.';
  $('#paper-disclosure').textContent = note;
  $('#disclosure-summary').textContent = note;
  document.title = `Board pack · ${state.viewer.consortium.name} · ${words.date(c.asOf)}`;
}

// ---------------------------------------------------------------------------------------
// Wiring

function start() {
  $('#sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('#token').value.trim();
    if (!token) {
      showSignInError('Paste an access token first.');
      $('#token').focus();
      return;
    }
    signIn(token);
  });
  $('#sign-out').addEventListener('click', signOut);
  $('#issuer-sign-in').addEventListener('click', (event) => {
    const button = event.target.closest('[data-issuer]');
    if (button) startIssuerSignIn(button.dataset.issuer);
  });
  whenUnauthenticated(expire);
  $('#controls').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (state.mode === 'published' && !$('#as-of').value) {
      await fillAsOf();
      fillPeriods();
      if (!$('#as-of').value) return;
    }
    apply();
  });
  $('#as-of').addEventListener('change', fillPeriods);
  document.addEventListener('click', (event) => {
    const button = event.target.closest('[data-export]');
    if (button && !button.disabled) exportPanel(button);
    const asglb = event.target.closest('[data-asglb]');
    if (asglb && !asglb.disabled) exportAsglb(asglb);
  });
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => markScrollable(document), 200);
  });
  document.addEventListener('change', (event) => {
    if (event.target.id === 'trend-measure') {
      state.trendMeasure = event.target.value;
      drawTrend();
    }
  });
  // Taken from the address at once, before anything is awaited.
  const returned = oidc.takeReturn();
  const linked = tokenFromFragment();
  const fromLink = (token) => {
    if (!token) return;
    if (!state.config.pasteToken) {
      showSignInError('This service does not accept pasted tokens or token links: sign in with your organisation.');
      return;
    }
    signIn(token);
  };
  // A link opened in this tab changes only the fragment: the page does not reload.
  window.addEventListener('hashchange', () => fromLink(tokenFromFragment()));
  oidc
    .loadConfig()
    .then((config) => {
      state.config = config;
    })
    .catch((e) => {
      showSignInError(`Signing in with your organisation is not available: ${e.message}`);
    })
    .then(() => {
      showSignInOptions();
      if (returned) finishIssuerSignIn(returned);
      else fromLink(linked);
    });
}

start();
