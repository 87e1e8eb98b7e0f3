// The JSON API (/api/v1/…) as the case and poll screens call it: same-origin cookies, the
// CSRF header on every unsafe method, and one answer shape whatever happened — a network
// failure included ({ok: false, status: 0, error: {code: "offline_http"}}).
import { jsonHeaders } from "./csrf.js";
import { t } from "./i18n.js";

export async function api(path, { method = "GET", body = undefined } = {}) {
  const init = { method, credentials: "same-origin" };
  if (method !== "GET") {
    init.headers = jsonHeaders();
    init.body = JSON.stringify(body || {});
  }
  try {
    const res = await fetch(`/api/v1/${path}`, init);
    const data = await res.json().catch(() => ({}));
    return { ok: res.ok, status: res.status, data, error: data.error };
  } catch {
    return { ok: false, status: 0, data: {}, error: { code: "offline_http", message: t("post.failed") } };
  }
}
