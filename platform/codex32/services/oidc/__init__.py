"""OpenID Connect sign-in, the protocol side: providers (the platform's and a workspace's own),
their discovery documents and keys, ID token verification, and the sign-in state of the
authorization code flow with PKCE. Who an identity links to and who is admitted is the tenancy
domain's (``tenants.oidc``)."""
