// Every string the client shows, in English and Spanish. Keys are stable; a missing Spanish
// entry falls back to English so a new string never shows as a bare key.

export const LANGUAGES = ["en", "es"];

const STRINGS = {
  en: {
    "skip": "Skip to composer",
    "language": "Language",
    "verified": "verified",
    "logout": "Log out",
    "login.title": "Sign in to Curbside",
    "login.hint": "For verified physicians only.",
    "login.email": "E-mail",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.wrong": "E-mail or password is wrong.",
    "login.failed": "Signing in failed. Try again.",
    "login.missing": "Enter your e-mail and password.",
    "session.ended": "Your session has ended. Please sign in again.",
    "session.forbidden": "Your account may not connect right now (licence not verified or suspended).",
    "conn.connecting": "Connecting…",
    "conn.online": "Connected",
    "conn.retry": "Connection lost. Reconnecting in {s} s…",
    "lounges": "Lounges",
    "lounge.general": "Doctors' lounge",
    "lounge.mine": "Your specialty",
    "search.label": "Find a specialty lounge",
    "search.placeholder": "Search specialties",
    "search.none": "No specialty matches.",
    "room.none": "Pick a lounge",
    "room.members.one": "1 member",
    "room.members.other": "{n} members",
    "room.removed": "You are no longer a member of this room.",
    "room.earlier": "Load earlier messages",
    "room.empty": "No messages yet. Say hello.",
    "composer.label": "Message",
    "composer.placeholder": "Write a message… (Enter sends, Shift+Enter for a new line)",
    "composer.send": "Send",
    "msg.pending": "Sending…",
    "msg.delivered": "Delivered",
    "msg.failed": "Not sent",
    "msg.edited": "edited",
    "msg.deleted": "Message deleted",
    "msg.hidden": "Hidden by a moderator",
    "msg.reply": "Reply",
    "msg.replyTo": "In reply to {who}",
    "msg.replyToUnknown": "In reply to message #{seq}",
    "msg.moderator": "moderator",
    "msg.you": "you",
    "reply.banner": "Replying to {who}",
    "reply.cancel": "Cancel reply",
    "typing.one": "{who} is typing…",
    "typing.many": "{who} are typing…",
    "error.generic": "Something went wrong.",
    "error.rate_limited": "You are sending too fast. Wait a moment and try again.",
    "error.too_large": "The message is too long.",
    "error.phi_detected": "The message looks like it contains patient identifiers. Remove them and try again.",
    "error.forbidden": "You may not do that here.",
    "error.offline": "Not connected. The message will be sent when the connection is back.",
  },
  es: {
    "skip": "Ir al editor de mensajes",
    "language": "Idioma",
    "verified": "verificado",
    "logout": "Cerrar sesión",
    "login.title": "Iniciar sesión en Curbside",
    "login.hint": "Solo para médicos verificados.",
    "login.email": "Correo electrónico",
    "login.password": "Contraseña",
    "login.submit": "Entrar",
    "login.wrong": "El correo o la contraseña no son correctos.",
    "login.failed": "No se pudo iniciar sesión. Inténtalo de nuevo.",
    "login.missing": "Escribe tu correo y tu contraseña.",
    "session.ended": "Tu sesión ha terminado. Vuelve a iniciar sesión.",
    "session.forbidden": "Tu cuenta no puede conectarse ahora (licencia sin verificar o suspendida).",
    "conn.connecting": "Conectando…",
    "conn.online": "Conectado",
    "conn.retry": "Conexión perdida. Reconectando en {s} s…",
    "lounges": "Salas",
    "lounge.general": "Sala de médicos",
    "lounge.mine": "Tu especialidad",
    "search.label": "Buscar la sala de una especialidad",
    "search.placeholder": "Buscar especialidades",
    "search.none": "Ninguna especialidad coincide.",
    "room.none": "Elige una sala",
    "room.members.one": "1 miembro",
    "room.members.other": "{n} miembros",
    "room.removed": "Ya no eres miembro de esta sala.",
    "room.earlier": "Cargar mensajes anteriores",
    "room.empty": "Aún no hay mensajes. Saluda.",
    "composer.label": "Mensaje",
    "composer.placeholder": "Escribe un mensaje… (Intro envía, Mayús+Intro para una línea nueva)",
    "composer.send": "Enviar",
    "msg.pending": "Enviando…",
    "msg.delivered": "Entregado",
    "msg.failed": "No enviado",
    "msg.edited": "editado",
    "msg.deleted": "Mensaje eliminado",
    "msg.hidden": "Oculto por un moderador",
    "msg.reply": "Responder",
    "msg.replyTo": "En respuesta a {who}",
    "msg.replyToUnknown": "En respuesta al mensaje n.º {seq}",
    "msg.moderator": "moderador",
    "msg.you": "tú",
    "reply.banner": "Respondiendo a {who}",
    "reply.cancel": "Cancelar respuesta",
    "typing.one": "{who} está escribiendo…",
    "typing.many": "{who} están escribiendo…",
    "error.generic": "Algo salió mal.",
    "error.rate_limited": "Estás enviando demasiado rápido. Espera un momento e inténtalo de nuevo.",
    "error.too_large": "El mensaje es demasiado largo.",
    "error.phi_detected": "El mensaje parece contener datos identificativos de un paciente. Quítalos e inténtalo de nuevo.",
    "error.forbidden": "No puedes hacer eso aquí.",
    "error.offline": "Sin conexión. El mensaje se enviará cuando vuelva la conexión.",
  },
};

let current = "en";

export function initialLanguage(stored, navigatorLanguages) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of navigatorLanguages || []) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export function setLanguage(lang) {
  current = LANGUAGES.includes(lang) ? lang : "en";
  return current;
}

export function language() {
  return current;
}

/** The string for `key` in the current language, with {name} placeholders filled. */
export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

/** Translate the static page: data-i18n (text), data-i18n-placeholder, data-i18n-aria-label. */
export function translatePage(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
}

export function has(key) {
  return key in STRINGS.en;
}
