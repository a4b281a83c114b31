import assert from "node:assert/strict";
import { test } from "node:test";

import { OAuthClient, challengeOf, createPkce } from "../src/index.js";

test("the S256 challenge matches RFC 7636's example", async () => {
  assert.equal(await challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
});

test("a new verifier is long, unreserved, fresh, and carries its own challenge", async () => {
  const first = await createPkce();
  const second = await createPkce(128);
  assert.match(first.verifier, /^[A-Za-z0-9\-._~]{64}$/);
  assert.equal(second.verifier.length, 128);
  assert.notEqual(first.verifier, second.verifier);
  assert.equal(first.challenge, await challengeOf(first.verifier));
  await assert.rejects(createPkce(42), RangeError);
});

test("the authorization URL carries the client, the redirect, the state and the challenge", async () => {
  const pkce = await createPkce();
  const oauth = new OAuthClient({ issuer: "https://live.example.org", authorizationEndpoint: "https://live.example.org/oauth/authorize", tokenEndpoint: "https://live.example.org/oauth/token" });
  const url = new URL(oauth.authorizationUrl({ redirectUri: "http://127.0.0.1:5000/callback", pkce, state: "s1" }));
  assert.equal(url.pathname, "/oauth/authorize");
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    response_type: "code",
    client_id: "livefold-web",
    redirect_uri: "http://127.0.0.1:5000/callback",
    scope: "openid profile",
    state: "s1",
    code_challenge: pkce.challenge,
    code_challenge_method: "S256",
  });
});
