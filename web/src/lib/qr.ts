// QR codes made in the browser (the MFA setup's otpauth:// URI), as SVG data: URLs for an <img>
// (img-src allows data:; the SVG is never inserted as markup).
import qrcode from "qrcode-generator";

export function qrSvg(text: string): string {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  return qr.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
}

export function qrDataUrl(text: string): string {
  const bytes = new TextEncoder().encode(qrSvg(text));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `data:image/svg+xml;base64,${btoa(bin)}`;
}
