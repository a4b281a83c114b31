// PKCE (RFC 7636) with WebCrypto, the same in browsers and Node (>= 20).

const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

export interface Pkce {
  verifier: string;
  challenge: string;
  method: "S256";
}

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The S256 challenge of a verifier: BASE64URL(SHA-256(verifier)) without padding. */
export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** A random verifier (43 to 128 unreserved characters) and its challenge. */
export async function createPkce(length = 64): Promise<Pkce> {
  if (!Number.isInteger(length) || length < 43 || length > 128) {
    throw new RangeError("a PKCE verifier has 43 to 128 characters");
  }
  // Bytes past the largest multiple of the alphabet size are skipped: every character is equally likely.
  const limit = 256 - (256 % UNRESERVED.length);
  let verifier = "";
  while (verifier.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length))) {
      if (byte < limit && verifier.length < length) verifier += UNRESERVED[byte % UNRESERVED.length];
    }
  }
  return { verifier, challenge: await challengeOf(verifier), method: "S256" };
}

/** A random value for `state` or `nonce`. */
export function randomToken(bytes = 16): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}
