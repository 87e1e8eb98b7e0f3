// DOM helpers shared by the client's modules.
//
// Safety rule: text from the server or the user is only ever put into the page with
// textContent / Text nodes (el() below), never parsed as HTML.

export const $ = (id) => document.getElementById(id);

/** Build an element; children are nodes or strings (strings become Text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/**
 * A paragraph of `text` with each `{start, end}` span wrapped in `<mark class="phi-span">`
 * (the PHI guard's findings). Offsets count Unicode code points, as the server does, hence
 * Array.from rather than string indices (which count UTF-16 units).
 */
export function markSpans(text, findings, titleOf) {
  const chars = Array.from(text);
  const node = el("p", { class: "phi-preview" });
  let at = 0;
  for (const f of findings) {
    if (f.start > at) node.append(chars.slice(at, f.start).join(""));
    node.append(el("mark", { class: "phi-span", "data-kind": f.kind, title: titleOf(f.kind),
      text: chars.slice(Math.max(at, f.start), f.end).join("") }));
    at = Math.max(at, f.end);
  }
  if (at < chars.length) node.append(chars.slice(at).join(""));
  return node;
}

/** UTF-16 index of code point `n` of `text` (for setSelectionRange). */
export const utf16Index = (text, n) => Array.from(text).slice(0, n).join("").length;
