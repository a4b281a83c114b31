"""Who is calling: access tokens (JWT) issued by livefold's own authorization server or by an
external OpenID Connect provider, verified into a `Principal`."""
