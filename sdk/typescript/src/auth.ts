// Signing in to livefold: OAuth 2.0 authorization code with PKCE (S256), refresh, revocation.
//
//   const oauth = await OAuthClient.discover("https://live.example.org");
//   const pkce = await createPkce();
//   location.href = oauth.authorizationUrl({ redirectUri, pkce, state });   // browser
//   ... on the redirect: const session = new Session(oauth, await oauth.exchangeCode(code, pkce.verifier, redirectUri));
//
// In Node, `signIn` from "livefold-sdk/node" does the whole dance with a loopback receiver.
// Refresh tokens rotate (each is good for one refresh), so a Session refreshes one at a time.

import { OAuthError, TransportError } from "./errors.js";
import type { Pkce } from "./pkce.js";

export const DEFAULT_CLIENT_ID = "livefold-web";
export const DEFAULT_SCOPE = "openid profile";
const REFRESH_MARGIN_MS = 30_000;

export interface OAuthEndpoints {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  revocationEndpoint?: string;
  userinfoEndpoint?: string;
}

export interface Tokens {
  accessToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  refreshToken?: string;
  scope: string;
  idToken?: string;
}

/** What `auth` may be besides a plain access token (a Session, or your own). */
export interface TokenSource {
  readonly refreshable: boolean;
  accessToken(forceRefresh?: boolean): Promise<string>;
}

export type Auth = string | TokenSource | undefined;

export function endpointsOf(document: unknown): OAuthEndpoints {
  const doc = (document ?? {}) as Record<string, unknown>;
  for (const name of ["issuer", "authorization_endpoint", "token_endpoint"]) {
    if (typeof doc[name] !== "string") {
      throw new OAuthError(200, "invalid_discovery", `the discovery document lacks ${name}`);
    }
  }
  const optional = (name: string) => (typeof doc[name] === "string" ? (doc[name] as string) : undefined);
  const endpoints: OAuthEndpoints = {
    issuer: doc.issuer as string,
    authorizationEndpoint: doc.authorization_endpoint as string,
    tokenEndpoint: doc.token_endpoint as string,
  };
  const revocation = optional("revocation_endpoint");
  const userinfo = optional("userinfo_endpoint");
  if (revocation) endpoints.revocationEndpoint = revocation;
  if (userinfo) endpoints.userinfoEndpoint = userinfo;
  return endpoints;
}

export function tokensOf(body: unknown, now = Date.now()): Tokens {
  const answer = (body ?? {}) as Record<string, unknown>;
  if (typeof answer.access_token !== "string") {
    throw new OAuthError(200, "invalid_response", "the token response has no access_token");
  }
  const lifetime = typeof answer.expires_in === "number" ? answer.expires_in : 3600;
  const tokens: Tokens = {
    accessToken: answer.access_token,
    expiresAt: now + lifetime * 1000,
    scope: typeof answer.scope === "string" ? answer.scope : "",
  };
  if (typeof answer.refresh_token === "string") tokens.refreshToken = answer.refresh_token;
  if (typeof answer.id_token === "string") tokens.idToken = answer.id_token;
  return tokens;
}

async function jsonOf(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function checked(response: Response): Promise<unknown> {
  const body = await jsonOf(response);
  if (response.status >= 400) {
    if (body !== null && typeof body === "object") {
      const record = body as Record<string, unknown>;
      const description = record.error_description ?? record.reason ?? "";
      throw new OAuthError(response.status, String(record.error ?? "http_error"), String(description));
    }
    throw new OAuthError(response.status, "http_error", String(body).slice(0, 500));
  }
  return body;
}

async function reach(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new TransportError(`${init?.method ?? "GET"} ${url} failed: ${String(error)}`);
  }
}

/** One authorization server (livefold's, or an OIDC provider's) and the public client. */
export class OAuthClient {
  constructor(
    readonly endpoints: OAuthEndpoints,
    readonly clientId: string = DEFAULT_CLIENT_ID,
  ) {}

  static async discover(issuer: string, clientId: string = DEFAULT_CLIENT_ID): Promise<OAuthClient> {
    const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    return new OAuthClient(endpointsOf(await checked(await reach(url))), clientId);
  }

  /** Where to send the user's browser to sign in. */
  authorizationUrl(options: {
    redirectUri: string;
    pkce: Pkce;
    state: string;
    scope?: string;
    nonce?: string;
  }): string {
    const url = new URL(this.endpoints.authorizationEndpoint);
    const params: Record<string, string> = {
      response_type: "code",
      client_id: this.clientId,
      redirect_uri: options.redirectUri,
      scope: options.scope ?? DEFAULT_SCOPE,
      state: options.state,
      code_challenge: options.pkce.challenge,
      code_challenge_method: options.pkce.method,
    };
    if (options.nonce !== undefined) params.nonce = options.nonce;
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return url.toString();
  }

  private async post(url: string, form: Record<string, string>): Promise<unknown> {
    const body = new URLSearchParams(form);
    return checked(await reach(url, { method: "POST", body }));
  }

  async exchangeCode(code: string, verifier: string, redirectUri: string): Promise<Tokens> {
    const form = {
      grant_type: "authorization_code",
      code,
      redirect_uri: redirectUri,
      client_id: this.clientId,
      code_verifier: verifier,
    };
    return tokensOf(await this.post(this.endpoints.tokenEndpoint, form));
  }

  async refresh(refreshToken: string): Promise<Tokens> {
    const form = { grant_type: "refresh_token", refresh_token: refreshToken, client_id: this.clientId };
    return tokensOf(await this.post(this.endpoints.tokenEndpoint, form));
  }

  /** Revoke a refresh token (ending its session) or an access token's session. */
  async revoke(token: string): Promise<void> {
    if (!this.endpoints.revocationEndpoint) {
      throw new OAuthError(0, "unsupported", "the authorization server has no revocation");
    }
    await this.post(this.endpoints.revocationEndpoint, { token, client_id: this.clientId });
  }
}

/** Tokens kept fresh: `accessToken()` refreshes when the access token is about to expire. */
export class Session implements TokenSource {
  private refreshing: Promise<Tokens> | null = null;

  constructor(
    readonly oauth: OAuthClient,
    public tokens: Tokens,
    private readonly onRefresh?: (tokens: Tokens) => void,
  ) {}

  get refreshable(): boolean {
    return this.tokens.refreshToken !== undefined;
  }

  async accessToken(forceRefresh = false): Promise<string> {
    const seen = this.tokens;
    const stale = forceRefresh || Date.now() + REFRESH_MARGIN_MS >= seen.expiresAt;
    if (!stale || seen.refreshToken === undefined) return seen.accessToken;
    if (this.refreshing === null) {
      // One refresh at a time: a rotated refresh token used twice would end the session.
      const refreshToken = seen.refreshToken;
      this.refreshing = this.oauth
        .refresh(refreshToken)
        .then((fresh) => {
          this.tokens = { ...fresh, refreshToken: fresh.refreshToken ?? refreshToken };
          this.onRefresh?.(this.tokens);
          return this.tokens;
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    return (await this.refreshing).accessToken;
  }

  async signOut(): Promise<void> {
    await this.oauth.revoke(this.tokens.refreshToken ?? this.tokens.accessToken);
  }
}
