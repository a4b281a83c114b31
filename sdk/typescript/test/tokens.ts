// Access tokens as the gateway's authorization server signs them (ES256, its own key), but
// short-lived: what the Python tests' `Tokens` does, for tests about a token's lifetime.

import { createPrivateKey, randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";

export type MintToken = (userId: string, ttlSeconds: number) => string;

const encoded = (part: object): string => Buffer.from(JSON.stringify(part)).toString("base64url");

export function tokenMinter(keyPath: string, issuer: string, audience: string): MintToken {
  const jwk = JSON.parse(readFileSync(keyPath, "utf8")) as { kid: string };
  const key = createPrivateKey({ key: jwk, format: "jwk" });
  return (userId, ttlSeconds) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "ES256", kid: jwk.kid, typ: "at+jwt" };
    const claims = { sub: userId, roles: ["viewer"], iss: issuer, aud: audience, iat: now, exp: now + ttlSeconds, jti: randomUUID() };
    const input = `${encoded(header)}.${encoded(claims)}`;
    const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    return `${input}.${signature.toString("base64url")}`;
  };
}
