// The API client: JSON over fetch, the bearer token from sessionStorage, a token prompt on 401.
const TOKEN_KEY = 'lrcast.token';

/** An error answer from the API: `status`, `code`, a readable `message`, the `field` it names. */
export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || null;
    this.field = fieldOf(this.body);
  }
}

/** The field path a 422 names: `field` when the service gives it, else pydantic's `loc`. */
export function fieldOf(body) {
  if (!body || typeof body !== 'object') return null;
  if (typeof body.field === 'string') return body.field;
  const d = body.detail;
  if (Array.isArray(d) && d.length && Array.isArray(d[0].loc)) return locToPath(d[0].loc);
  if (d && typeof d === 'object' && !Array.isArray(d)) {
    if (typeof d.field === 'string') return d.field;
    if (Array.isArray(d.loc)) return locToPath(d.loc);
  }
  return null;
}

function locToPath(loc) {
  let path = '';
  for (const part of loc) {
    if (part === 'body' || part === 'query' || part === 'path') continue;
    if (typeof part === 'number') path += `[${part}]`;
    else path += path ? `.${part}` : String(part);
  }
  return path || null;
}

function describe(status, body) {
  const d = body && body.detail;
  if (typeof d === 'string') return d;
  if (Array.isArray(d) && d.length) return d.map((e) => (e && e.msg) || JSON.stringify(e)).join('; ');
  if (d && typeof d === 'object') return d.message || d.msg || JSON.stringify(d);
  return `HTTP ${status}`;
}

export function getToken() { return sessionStorage.getItem(TOKEN_KEY); }

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  showAuthState();
}

export function showAuthState() {
  const node = document.getElementById('auth-state');
  if (node) node.hidden = !getToken();
}

let pendingPrompt = null;

/** Ask for a token once, however many requests got a 401 at the same time. */
function askToken(message) {
  if (!pendingPrompt) {
    pendingPrompt = new Promise((resolve, reject) => {
      const dialog = document.getElementById('token-dialog');
      const form = document.getElementById('token-form');
      const input = document.getElementById('token-input');
      document.getElementById('token-message').textContent = message;
      input.value = '';
      const done = (ok) => {
        form.removeEventListener('submit', onSubmit);
        cancel.removeEventListener('click', onCancel);
        dialog.removeEventListener('cancel', onCancel);
        if (dialog.open) dialog.close();
        pendingPrompt = null;
        ok ? resolve() : reject(new ApiError(401, { detail: 'an API token is needed', code: 'unauthorized' }));
      };
      const onSubmit = (event) => {
        event.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        sessionStorage.setItem(TOKEN_KEY, token);
        showAuthState();
        done(true);
      };
      const onCancel = (event) => { event.preventDefault(); done(false); };
      const cancel = document.getElementById('token-cancel');
      form.addEventListener('submit', onSubmit);
      cancel.addEventListener('click', onCancel);
      dialog.addEventListener('cancel', onCancel);
      dialog.showModal();
      input.focus();
    });
  }
  return pendingPrompt;
}

/** One API call: resolves to `{status, data}`, throws `ApiError` on an error answer. */
export async function request(path, { method = 'GET', body, signal } = {}) {
  for (;;) {
    const token = getToken();
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    // relative to the page, so the dashboard also works behind a proxy under a path prefix
    const res = await fetch(path.replace(/^\//, ''), {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) {
      if (token) { sessionStorage.removeItem(TOKEN_KEY); showAuthState(); }
      await askToken(token ? 'The service refused that token; enter another.'
        : 'This service needs an API token.');
      continue;
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = { detail: text }; }
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return { status: res.status, data };
  }
}

/** `request` for the common case: just the JSON body. */
export async function api(path, options) {
  return (await request(path, options)).data;
}

export function runPath(id, suffix = '') {
  return `/v1/runs/${encodeURIComponent(id)}${suffix}`;
}
