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
