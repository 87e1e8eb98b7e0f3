// The page a mailed urgent-offer link opens (/alerts/<token>, consult/alerts.py): it shows
// what the link offers and takes the case with one button, in the addressee's own session.
// The link works once; a used, expired or closed one says so (409 with details.reason).
import { jsonHeaders } from "./csrf.js";

const ES = (navigator.language || "").toLowerCase().startsWith("es");
const T = ES ? {
  title: "Caso urgente", login: "Inicie sesión en Curbside en este navegador y vuelva a abrir el enlace.",
  offer: (s) => `Un caso urgente de ${s} busca especialista de guardia.`, take: "Tomar el caso",
  taken: "El caso es suyo. Ábralo en Curbside.", used: "Este enlace ya se usó.",
  expired: "Este enlace caducó.", closed: "Este caso ya no espera: otro especialista lo tomó o se cerró.",
  other: "Este enlace no es válido para su cuenta.", home: "Abrir Curbside",
} : {
  title: "Urgent case", login: "Sign in to Curbside in this browser, then open the link again.",
  offer: (s) => `An urgent ${s} case is looking for an on-call specialist.`, take: "Take the case",
  taken: "The case is yours. Open it in Curbside.", used: "This link was used already.",
  expired: "This link has expired.", closed: "This case is no longer waiting: someone took it, or it was closed.",
  other: "This link is not valid for your account.", home: "Open Curbside",
};

const token = decodeURIComponent(location.pathname.replace(/^\/alerts\//, ""));
const api = `/api/v1/alerts/${encodeURIComponent(token)}`;
const text = document.getElementById("alert-text");
const button = document.getElementById("alert-accept");
document.getElementById("alert-title").textContent = T.title;
document.getElementById("alert-home").textContent = T.home;
document.documentElement.lang = ES ? "es" : "en";

function explain(status, body) {
  const reason = body?.error?.details?.reason;
  if (status === 401) return T.login;
  if (status === 409 && T[reason]) return T[reason];
  if (status === 403 || status === 404) return T.other;
  return body?.error?.message || T.other;
}

async function show() {
  const resp = await fetch(api, { credentials: "same-origin" });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) { text.textContent = explain(resp.status, body); return; }
  const alert = body.alert;
  if (!alert.open) { text.textContent = alert.used ? T.used : T.closed; return; }
  text.textContent = T.offer(alert.specialty);
  button.textContent = T.take;
  button.hidden = false;
}

button.addEventListener("click", async () => {
  button.disabled = true;
  const resp = await fetch(`${api}/accept`, { method: "POST", credentials: "same-origin",
                                              headers: jsonHeaders(), body: "{}" });
  const body = await resp.json().catch(() => ({}));
  button.hidden = true;
  text.textContent = resp.ok ? T.taken : explain(resp.status, body);
});

show();
