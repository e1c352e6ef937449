// Signing in with a council's identity provider: the OAuth 2.0 authorization-code flow with
// PKCE (S256), `state` and `nonce`, as a public client (no secret). The server tells the
// page which issuers offer it (`GET /board/config.json`: client id, scopes, endpoints from
// the issuer's discovery document); the page's Content-Security-Policy lets it call those
// token endpoints and nothing else beyond this origin.
//
// Across the redirect to the provider and back, the code verifier, `state` and `nonce` are
// kept in sessionStorage (this tab only) and deleted as soon as the page returns; the code
// and state are removed from the address at once (history.replaceState). The access token
// is handed to the caller and never stored anywhere.

/** The sessionStorage key of the sign-in under way. */
const PENDING_KEY = 'permanence.board.pending-sign-in';
/** How long a sign-in may take at the provider before its return is refused (ms). */
const PENDING_MAX_AGE_MS = 15 * 60 * 1000;
/** The longest text of the provider shown on the page. */
const MAX_PROVIDER_TEXT = 300;

/** A sign-in that failed, in words for the sign-in area. */
export class SignInError extends Error {}

function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function randomText(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** The provider's words, bounded and as plain text (the caller sets it as textContent). */
function providerText(value) {
  const text = String(value ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return text.length > MAX_PROVIDER_TEXT ? `${text.slice(0, MAX_PROVIDER_TEXT)}…` : text;
}

/** Where the provider sends the person back: this page, with no query or fragment. */
export function redirectUri() {
  return `${window.location.origin}/board`;
}

/** What the server says about signing in (`GET /board/config.json`). */
export async function loadConfig() {
  const response = await fetch('/board/config.json', {
    headers: { Accept: 'application/json' },
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!response.ok) throw new Error(`the sign-in settings could not be read (${response.status})`);
  const config = await response.json();
  return {
    pasteToken: config.paste_token === true,
    issuers: Array.isArray(config.issuers) ? config.issuers : [],
  };
}

/** Sends the person to `issuer`'s provider to sign in (the page unloads). */
export async function start(issuer) {
  const verifier = randomText(32);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const pending = { issuer: issuer.name, verifier, state: randomText(24), nonce: randomText(24), at: Date.now() };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(issuer.authorization_endpoint);
  for (const [name, value] of Object.entries(issuer.authorization_params || {})) url.searchParams.set(name, value);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', issuer.client_id);
  url.searchParams.set('redirect_uri', redirectUri());
  url.searchParams.set('scope', (issuer.scopes || ['openid']).join(' '));
  url.searchParams.set('state', pending.state);
  url.searchParams.set('nonce', pending.nonce);
  url.searchParams.set('code_challenge', base64url(new Uint8Array(digest)));
  url.searchParams.set('code_challenge_method', 'S256');
  window.location.assign(url.toString());
}

/**
 * The provider's answer in the address, if the page was opened by one: taken, and removed
 * from the address and from sessionStorage at once, whatever it holds. `null` when the
 * page was not opened by a provider.
 */
export function takeReturn() {
  const params = new URLSearchParams(window.location.search);
  if (!params.has('state') || !(params.has('code') || params.has('error'))) return null;
  const answer = {
    code: params.get('code'),
    state: params.get('state'),
    error: params.get('error'),
    errorDescription: params.get('error_description'),
    iss: params.get('iss'),
  };
  window.history.replaceState(null, '', window.location.pathname + window.location.hash);
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
  } catch {
    pending = null;
  }
  sessionStorage.removeItem(PENDING_KEY);
  return { answer, pending };
}

function jwtPayload(jwt) {
  const part = String(jwt).split('.')[1] || '';
  const text = atob(part.replaceAll('-', '+').replaceAll('_', '/'));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0))));
}

/**
 * Completes a sign-in from the provider's answer: checks it answers the sign-in this tab
 * started, exchanges the code at the token endpoint (with the code verifier) and checks the
 * ID token's `nonce`, issuer and audience. The access token and its lifetime (seconds, or
 * null); a `SignInError` saying what went wrong otherwise.
 */
export async function finish({ answer, pending }, issuers) {
  const issuer = pending && issuers.find((i) => i.name === pending.issuer);
  const label = issuer ? issuer.label : 'your organisation';
  if (!pending || !issuer || pending.state !== answer.state || Date.now() - pending.at > PENDING_MAX_AGE_MS) {
    throw new SignInError('The sign-in could not be completed: it was not started from this page in this tab, or it took too long. Sign in again.');
  }
  if (answer.iss && answer.iss !== issuer.issuer) {
    throw new SignInError(`The sign-in with ${label} could not be completed: the answer came from another issuer.`);
  }
  if (answer.error) {
    const description = providerText(answer.errorDescription);
    throw new SignInError(`The sign-in with ${label} failed: ${providerText(answer.error)}${description ? ` (${description})` : ''}.`);
  }
  let response;
  try {
    response = await fetch(issuer.token_endpoint, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: answer.code,
        redirect_uri: redirectUri(),
        client_id: issuer.client_id,
        code_verifier: pending.verifier,
      }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new SignInError(`The sign-in with ${label} could not be completed: its token endpoint could not be reached (${providerText(e.message)}).`);
  }
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok || typeof body.access_token !== 'string') {
    const why = body.error ? `${providerText(body.error)}${body.error_description ? ` (${providerText(body.error_description)})` : ''}` : `${response.status}`;
    throw new SignInError(`The sign-in with ${label} could not be completed: the token endpoint answered ${why}.`);
  }
  if (body.id_token) {
    let claims;
    try {
      claims = jwtPayload(body.id_token);
    } catch {
      claims = {};
    }
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.nonce !== pending.nonce || claims.iss !== issuer.issuer || !audiences.includes(issuer.client_id)) {
      throw new SignInError(`The sign-in with ${label} could not be completed: its ID token does not answer this sign-in.`);
    }
  }
  const expiresIn = Number.isFinite(body.expires_in) && body.expires_in > 0 ? body.expires_in : null;
  return { token: body.access_token, expiresIn };
}
