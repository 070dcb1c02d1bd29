// DOM helpers. Everything is built with createElement/createTextNode: no innerHTML, no HTML
// strings, no style attributes (the server's CSP has no 'unsafe-inline'), so text from the API can
// never become markup.

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (ev: Event) => void;
export type Attrs = {
  [key: string]: string | number | boolean | null | undefined | Handler;
};

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "style") throw new Error("inline styles are not allowed (CSP): use a class");
      if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2).toLowerCase(), value as Handler);
      } else if (key === "class") {
        el.className = String(value);
      } else if (key === "value" && el instanceof HTMLInputElement) {
        el.setAttribute("value", String(value)); // the default too: form.reset() returns to it
      } else if (key === "value" && "value" in el) {
        (el as unknown as { value: string }).value = String(value);
      } else if (key === "checked" && el instanceof HTMLInputElement) {
        el.checked = Boolean(value);
      } else if (typeof value === "function") {
        throw new Error(`attribute ${key} cannot be a function`);
      } else {
        el.setAttribute(key, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replace(el: Element, ...children: Child[]): void {
  clear(el);
  append(el, children);
}

let idCounter = 0;
export function uid(prefix = "id"): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// A labelled form field with a slot for its error message (aria-describedby / aria-invalid).
export interface Field {
  wrap: HTMLElement;
  input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
  setError(message: string | null): void;
}

export interface FieldOptions {
  label: string;
  name: string;
  type?: string;
  value?: string;
  required?: boolean;
  autocomplete?: string;
  hint?: string;
  min?: string | number;
  max?: string | number;
  step?: string | number;
  minlength?: number;
  maxlength?: number;
  inputmode?: string;
  pattern?: string;
  textarea?: boolean;
  options?: Array<{ value: string; label: string }>;
}

export function field(o: FieldOptions): Field {
  const id = uid(`f-${o.name}`);
  const hintId = o.hint ? `${id}-hint` : null;
  const errId = `${id}-err`;
  const common: Attrs = {
    id,
    name: o.name,
    required: o.required ?? false,
    autocomplete: o.autocomplete,
    "aria-describedby": [hintId, errId].filter(Boolean).join(" "),
  };
  let input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
  if (o.textarea) {
    input = h("textarea", { ...common, rows: 4, maxlength: o.maxlength });
    input.value = o.value ?? "";
  } else if (o.options) {
    input = h(
      "select",
      common,
      o.options.map((opt) => h("option", { value: opt.value }, opt.label)),
    );
    input.value = o.value ?? "";
  } else {
    input = h("input", {
      ...common,
      type: o.type ?? "text",
      value: o.value,
      min: o.min,
      max: o.max,
      step: o.step,
      minlength: o.minlength,
      maxlength: o.maxlength,
      inputmode: o.inputmode,
      pattern: o.pattern,
    });
  }
  const err = h("p", { id: errId, class: "field-error", hidden: true });
  const wrap = h(
    "div",
    { class: "field" },
    h("label", { for: id }, o.label, o.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    hintId ? h("p", { id: hintId, class: "hint" }, o.hint) : null,
    input,
    err,
  );
  return {
    wrap,
    input,
    setError(message) {
      if (message) {
        err.textContent = message;
        err.hidden = false;
        input.setAttribute("aria-invalid", "true");
      } else {
        err.textContent = "";
        err.hidden = true;
        input.removeAttribute("aria-invalid");
      }
    },
  };
}

// Runs fn when the signal aborts (the view was left).
export function onAbort(signal: AbortSignal, fn: () => void): void {
  if (signal.aborted) fn();
  else signal.addEventListener("abort", fn, { once: true });
}

// setInterval bound to a view's lifetime.
export function every(signal: AbortSignal, ms: number, fn: () => void): void {
  const t = window.setInterval(fn, ms);
  onAbort(signal, () => window.clearInterval(t));
}

export function later(signal: AbortSignal, ms: number, fn: () => void): void {
  const t = window.setTimeout(fn, ms);
  onAbort(signal, () => window.clearTimeout(t));
}

// A file download from client-made content (ICS) or fetched bytes: a blob: URL in an <a download>.
// Navigating to it is a download, which the CSP does not restrict (img-src has no blob:).
export function downloadLink(
  label: string,
  filename: string,
  blob: Blob,
  signal: AbortSignal,
  cls = "button secondary",
): HTMLAnchorElement {
  const url = URL.createObjectURL(blob);
  onAbort(signal, () => URL.revokeObjectURL(url));
  return h("a", { href: url, download: filename, class: cls }, label);
}

export function blobToDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error ?? new Error("could not read"));
    r.readAsDataURL(blob);
  });
}
