/**
 * The QR code of an `otpauth://` URI, for an authenticator app to scan: an SVG document (the
 * admin API, for the console) or block characters (a terminal, `llmproxy totp enroll`).
 * `qrcode` is imported on first use, not at start-up: only enrolment needs it.
 *
 * @example
 * const svg = await totpQrCode(enrolled.otpauthUri, 'svg'); // '<svg xmlns="http://www.w3.org/2000/svg" ...'
 */
export async function totpQrCode(otpauthUri: string, type: 'svg' | 'terminal'): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return type === 'svg' ? QRCode.toString(otpauthUri, { type: 'svg', margin: 2 }) : QRCode.toString(otpauthUri, { type: 'terminal', small: true });
}
