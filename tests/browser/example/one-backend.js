// One Backend in the browser: sign-in with tokens shared by the tabs of an origin, one refresh
// on a 401, presigned uploads, and live updates that reconnect with a fresh token. Plain ES module.
export class ApiError extends Error {
  constructor(status, error = {}) {
    super(error.message || `HTTP ${status}`);
    Object.assign(this, { status, code: error.code, field: error.field, requestId: error.requestId });
  }
}

export class OneBackend {
  constructor({ apiUrl, wsUrl, appId, apiKey, storage = localStorage }) {
    this.apiUrl = apiUrl.replace(/\/$/, "");
    this.wsUrl = wsUrl || `${this.apiUrl.replace(/^http/, "ws")}/live`;
    Object.assign(this, { appId, apiKey, storage, slot: `one-backend:${appId}:session` });
    this.onSignOut = () => {};
  }
  get session() { return JSON.parse(this.storage.getItem(this.slot) || "null"); }
  set session(s) { s ? this.storage.setItem(this.slot, JSON.stringify(s)) : this.storage.removeItem(this.slot); }
  get user() { return this.session?.user ?? null; }

  register(email, password, profile) { return this.#signIn("/auth/register", { email, password, profile }); }
  login(email, password) { return this.#signIn("/auth/login", { email, password }); }
  async #signIn(path, body) {
    this.#keep(await this.#send("POST", path, { ...body, appId: this.appId }));
    return this.user;
  }
  #keep(r) {
    const expiresAt = Date.now() + r.expiresIn * 1000;
    this.session = { accessToken: r.accessToken, refreshToken: r.refreshToken, expiresAt, user: r.user };
  }
  async logout() {
    const s = this.session;
    this.session = null;
    if (s) await this.#send("POST", "/auth/logout", { refreshToken: s.refreshToken }).catch(() => {});
  }

  // Any call as the signed-in user (or with the key alone when nobody is): on a 401 the token
  // is refreshed and the call retried once; a second 401 is thrown.
  async request(method, path, body, headers = {}) {
    if (!this.session) return this.#send(method, path, body, null, headers);
    const token = await this.accessToken();
    try { return await this.#send(method, path, body, token, headers); } catch (e) {
      if (e.status !== 401) throw e;
    }
    return this.#send(method, path, body, await this.accessToken(token), headers);
  }

  // A usable access token: refreshed when it expires within 30 s or was just refused (`stale`).
  // Refresh tokens are single-use and a reused one signs the user out everywhere, so tabs take
  // turns (Web Locks) and a tab that waited uses the token another tab got meanwhile.
  async accessToken(stale) {
    const seen = this.session;
    if (!seen) throw new ApiError(401, { code: "unauthorized", message: "not signed in" });
    if (seen.accessToken !== stale && seen.expiresAt - Date.now() > 30_000) return seen.accessToken;
    const exclusive = (f) => (navigator.locks ? navigator.locks.request(this.slot, f) : f());
    return exclusive(async () => {
      const now = this.session;
      if (now && now.refreshToken !== seen.refreshToken) return now.accessToken;
      try {
        this.#keep(await this.#send("POST", "/auth/refresh", { refreshToken: seen.refreshToken }));
      } catch (e) {
        if (e.status === 401) { this.session = null; this.onSignOut(); }
        throw e;
      }
      return this.session.accessToken;
    });
  }

  async #send(method, path, body, token, headers = {}) {
    const h = { "X-API-Key": this.apiKey, ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h["Content-Type"] ??= "application/json";
    const res = await fetch(this.apiUrl + path,
      { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, data?.error);
    return data;
  }

  // Uploads a File or Blob straight to storage through a presigned URL; returns its key.
  async upload(file, fileName = file.name) {
    const fileType = file.type || "application/octet-stream";
    const u = await this.request("POST", `/files/${this.appId}/upload-url`, { fileName, fileType, size: file.size });
    const { "content-length": _, ...headers } = u.headers; // the browser sets the length itself
    const res = await fetch(u.url, { method: u.method, headers, body: file });
    if (!res.ok) throw new ApiError(res.status, { code: "upload_failed", message: `storage answered ${res.status}` });
    return u.key;
  }
  async downloadUrl(key) {
    return (await this.request("POST", `/files/${this.appId}/download-url`, { key })).url;
  }

  // Live updates of `channels` (e.g. ["resource:notes"]): onEvent gets each push. After a drop it
  // reconnects (0.5 s doubling to 15 s), refreshing the token once if the socket did not open,
  // and renews the token of an open socket before it expires. Returns { close() }.
  live(channels, onEvent, onStatus = () => {}) {
    let ws, held, renewal, ping, retry, delay = 500, refresh = false, refreshed = false, closed = false;
    const schedule = () => {
      const s = this.session;
      if (s) renewal = setTimeout(() => renew().catch(() => ws.close()), Math.max(s.expiresAt - Date.now() - 20_000, 1000));
    };
    const renew = async (stale) => {
      clearTimeout(renewal);
      held = await this.accessToken(stale);
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: "auth", token: held }));
      schedule();
    };
    const again = () => {
      onStatus("reconnecting");
      retry = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15_000);
    };
    const connect = async () => {
      try { held = await this.accessToken(refresh ? this.session?.accessToken : undefined); } catch {
        return this.session ? again() : onStatus("signed-out"); // unreachable, or signed out
      }
      if (closed) return;
      refreshed ||= refresh;
      onStatus("connecting");
      ws = new WebSocket(`${this.wsUrl}?apiKey=${encodeURIComponent(this.apiKey)}&token=${encodeURIComponent(held)}`);
      let opened = false;
      ws.onopen = () => {
        opened = true; refreshed = false; delay = 500;
        for (const channel of channels) ws.send(JSON.stringify({ action: "subscribe", channel }));
        ping = setInterval(() => ws.send('{"action":"ping"}'), 300_000); // under API Gateway's 10 min idle limit
        schedule();
        onStatus("open");
      };
      ws.onmessage = (m) => {
        const msg = JSON.parse(m.data);
        if (msg.type === "error" && msg.error?.code === "unauthorized") renew(held).catch(() => ws.close());
        else if (!["subscribed", "authenticated", "pong"].includes(msg.type)) onEvent(msg);
      };
      ws.onclose = () => {
        clearTimeout(renewal); clearInterval(ping);
        if (closed) return onStatus("closed");
        refresh = !opened && !refreshed; // a refused handshake most likely means a stale token
        again();
      };
    };
    connect();
    return { close() { closed = true; clearTimeout(retry); ws?.close(); } };
  }
}
