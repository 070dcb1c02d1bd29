import { describe, expect, it } from "vitest";
import { qrDataUrl, qrSvg } from "./qr";

describe("qr", () => {
  it("encodes an otpauth URI as an SVG with no script", () => {
    const svg = qrSvg("otpauth://totp/Souk:a%40b.c?secret=JBSWY3DPEHPK3PXP&issuer=Souk");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).not.toMatch(/<script|on\w+=/i);
  });
  it("is a base64 data: URL", () => {
    const url = qrDataUrl("otpauth://totp/x?secret=A");
    expect(url.startsWith("data:image/svg+xml;base64,")).toBe(true);
    expect(atob(url.split(",")[1]!)).toContain("<svg");
  });
});
