// The public API, as the signed-in person: POST /graphql with the bearer token, and the
// CSV exports (GET /export/…), fetched with the token and saved as a file. The token is
// held here, in memory only: never in storage, cookies or the address.

let token = null;
/** Called when the API refuses the token (expired or revoked): the page signs out. */
let onUnauthenticated = () => {};

export function setToken(value) {
  token = value;
}

export function whenUnauthenticated(callback) {
  onUnauthenticated = callback;
}

export function hasToken() {
  return token !== null;
}

/** An error the API (or the network) answered with, in words a reader can act on. */
export class ApiError extends Error {
  constructor(messages, codes = []) {
    super(messages.join('\n'));
    this.messages = messages;
    this.codes = codes;
  }
}

/** An `ApiError` of these GraphQL errors; a refused token is reported first. */
function refusal(errors) {
  const codes = errors.map((e) => (e.extensions || {}).code).filter(Boolean);
  if (codes.includes('UNAUTHENTICATED')) onUnauthenticated();
  return new ApiError(errors.map(describe), codes);
}

function describe(error) {
  const ext = error.extensions || {};
  const field = ext.field ? ` (${ext.field})` : '';
  const code = ext.code ? ` [${ext.code}]` : '';
  return `${error.message}${field}${code}`;
}

/**
 * Runs one operation; its `data`. GraphQL errors, HTTP refusals and network failures all
 * become an `ApiError` carrying the API's own messages. `Accept: application/json`: the
 * answer is 200 with its errors in the body (GraphQL over HTTP's legacy media type).
 */
export async function graphql(query, variables) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/json',
        Authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError([`The service could not be reached: ${e.message}`]);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError([`The service answered ${response.status} ${response.statusText} without a GraphQL response`]);
  }
  if (body.errors && body.errors.length) throw refusal(body.errors);
  if (!response.ok || !body.data) throw new ApiError([`The service answered ${response.status} ${response.statusText}`]);
  return body.data;
}

/** Downloads `/export/<file>?<params>` with the token and saves it as `saveAs`. */
export async function download(file, params, saveAs, accept = 'text/csv') {
  const query = new URLSearchParams(params).toString();
  let response;
  try {
    response = await fetch(`/export/${file}${query ? `?${query}` : ''}`, {
      headers: { Authorization: `Bearer ${token}`, Accept: accept },
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError([`The service could not be reached: ${e.message}`]);
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON: the status says it.
    }
    if (body && Array.isArray(body.errors) && body.errors.length) throw refusal(body.errors);
    if (response.status === 401) onUnauthenticated();
    throw new ApiError([`The export was refused: ${response.status} ${response.statusText}`], response.status === 401 ? ['UNAUTHENTICATED'] : []);
  }
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = saveAs;
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
