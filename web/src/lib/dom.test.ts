import { describe, expect, it } from "vitest";
import { field, h } from "./dom";

describe("h", () => {
  it("never parses text as markup", () => {
    const el = h("p", null, "<img src=x onerror=alert(1)>");
    expect(el.children).toHaveLength(0);
    expect(el.textContent).toBe("<img src=x onerror=alert(1)>");
  });
  it("refuses inline styles (CSP)", () => {
    expect(() => h("div", { style: "color:red" })).toThrow(/inline styles/);
  });
  it("sets attributes, booleans and listeners", () => {
    let clicked = 0;
    const b = h("button", { type: "button", disabled: true, hidden: false, onclick: () => clicked++ }, "Go");
    expect(b.getAttribute("type")).toBe("button");
    expect(b.hasAttribute("disabled")).toBe(true);
    expect(b.hasAttribute("hidden")).toBe(false);
    b.disabled = false;
    b.click();
    expect(clicked).toBe(1);
  });
});

describe("field", () => {
  it("labels the input and ties its error to it", () => {
    const f = field({ label: "E-mail address", name: "email", type: "email", required: true });
    document.body.append(f.wrap);
    const label = f.wrap.querySelector("label")!;
    expect(label.htmlFor).toBe(f.input.id);
    f.setError("Must be an e-mail address.");
    expect(f.input.getAttribute("aria-invalid")).toBe("true");
    const errId = f.input.getAttribute("aria-describedby")!;
    expect(document.getElementById(errId)!.textContent).toBe("Must be an e-mail address.");
    f.setError(null);
    expect(f.input.hasAttribute("aria-invalid")).toBe(false);
  });
});
