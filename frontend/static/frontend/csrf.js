// Django's CSRF token: the page sets the `csrftoken` cookie (frontend/views.py), and every
// unsafe request sends it back as X-CSRFToken. The server refuses a POST with the session
// cookie but without a matching token (core/http.py csrf_refusal), so another site cannot
// make a logged-in doctor's browser withdraw a case or log out.

export function csrfToken() {
  const entry = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return entry ? decodeURIComponent(entry.slice("csrftoken=".length)) : "";
}

// Headers for a JSON request that changes something.
export function jsonHeaders() {
  return { "Content-Type": "application/json", "X-CSRFToken": csrfToken() };
}
