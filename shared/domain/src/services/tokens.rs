//! Use cases: issue tokens (`get_token`) and authenticate a request's token.
//!
//! `get_token` takes Yeastar's `username` / `password`: the administrator API client's id and
//! secret, or an extension number and the password the administrator set on it (an agent).

use tracing::info;

use crate::auth::{self, ACCESS_TOKEN_TTL, Principal, REFRESH_TOKEN_TTL, TokenGrant, TokenKind};
use crate::ids::ExtensionNumber;
use crate::ports::{Clock, ExtensionDirectory, Random, StoreError, TokenStore};
use crate::secret::{Secret, ct_eq};

/// The bootstrap administrator API client (from deployment configuration).
#[derive(Debug, Clone)]
pub struct AdminClient {
    /// Client id (`username`).
    pub client_id: String,
    /// Client secret (`password`).
    pub client_secret: Secret,
}

/// Tokens handed out.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// Access token.
    pub access_token: Secret,
    /// Refresh token.
    pub refresh_token: Secret,
    /// Who they belong to.
    pub principal: Principal,
}

/// Why tokens were not issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Wrong username or password (which one is not revealed).
    #[error("wrong username or password")]
    InvalidCredentials,
    /// The random source failed to produce a token.
    #[error("could not generate a token")]
    Randomness,
    /// A dependency failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ports token issuing uses.
pub struct TokenPorts<'a, T, X, R, K> {
    /// Token storage.
    pub tokens: &'a T,
    /// Extensions (agent logins).
    pub extensions: &'a X,
    /// Randomness.
    pub random: &'a R,
    /// Time.
    pub clock: &'a K,
}

/// Issues an access and a refresh token for valid credentials.
pub async fn get_token<T, X, R, K>(
    ports: &TokenPorts<'_, T, X, R, K>,
    admin: &AdminClient,
    username: &str,
    password: &Secret,
) -> Result<IssuedTokens, TokenError>
where
    T: TokenStore,
    X: ExtensionDirectory,
    R: Random,
    K: Clock,
{
    let principal = if ct_eq(username.as_bytes(), admin.client_id.as_bytes()) {
        if *password != admin.client_secret {
            return Err(TokenError::InvalidCredentials);
        }
        Principal::ApiClient { client_id: admin.client_id.clone() }
    } else {
        let number = ExtensionNumber::parse(username).map_err(|_| TokenError::InvalidCredentials)?;
        let ext = ports.extensions.extension_by_number(&number).await?.ok_or(TokenError::InvalidCredentials)?;
        if !auth::verify_password(password, &ext.password_hash) {
            return Err(TokenError::InvalidCredentials);
        }
        Principal::Agent { extension_id: ext.id, number: ext.number }
    };

    issue(ports, principal).await
}

/// Issues a new access and refresh token pair for `principal`.
async fn issue<T, X, R, K>(ports: &TokenPorts<'_, T, X, R, K>, principal: Principal) -> Result<IssuedTokens, TokenError>
where
    T: TokenStore,
    R: Random,
    K: Clock,
{
    let now = ports.clock.now();
    let access = auth::token_from_random(&ports.random.bytes::<64>()).ok_or(TokenError::Randomness)?;
    let refresh = auth::token_from_random(&ports.random.bytes::<64>()).ok_or(TokenError::Randomness)?;
    let grant =
        |kind, ttl| TokenGrant { principal: principal.clone(), kind, issued_at: now, expires_at: now.plus(ttl) };
    ports.tokens.put_token(&auth::token_hash(&access), &grant(TokenKind::Access, ACCESS_TOKEN_TTL)).await?;
    ports.tokens.put_token(&auth::token_hash(&refresh), &grant(TokenKind::Refresh, REFRESH_TOKEN_TTL)).await?;
    info!(principal = principal.scope(), "tokens issued");
    Ok(IssuedTokens { access_token: Secret::new(access), refresh_token: Secret::new(refresh), principal })
}

/// `refresh_token`: a valid refresh token (used once) gives a new access and refresh token for
/// the same caller. An agent whose extension was deleted gets none.
pub async fn refresh_token<T, X, R, K>(
    ports: &TokenPorts<'_, T, X, R, K>,
    refresh: &Secret,
) -> Result<IssuedTokens, TokenError>
where
    T: TokenStore,
    X: ExtensionDirectory,
    R: Random,
    K: Clock,
{
    let hash = auth::token_hash(refresh.expose());
    let grant = ports.tokens.token(&hash).await?.ok_or(TokenError::InvalidCredentials)?;
    if grant.kind != TokenKind::Refresh || !grant.is_valid_at(ports.clock.now()) {
        return Err(TokenError::InvalidCredentials);
    }
    if let Principal::Agent { extension_id, .. } = &grant.principal
        && ports.extensions.extension(*extension_id).await?.is_none()
    {
        return Err(TokenError::InvalidCredentials);
    }
    // Whoever removes it first refreshes; a replayed refresh token gets nothing.
    if !ports.tokens.delete_token(&hash).await? {
        return Err(TokenError::InvalidCredentials);
    }
    issue(ports, grant.principal).await
}

/// `del_token`: revokes the access token the request carries.
pub async fn revoke_token<T: TokenStore>(tokens: &T, access_token: &str) -> Result<bool, StoreError> {
    tokens.delete_token(&auth::token_hash(access_token)).await
}

/// Why a request's token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token, an unknown one, a refresh token, or an expired one (Yeastar 10004).
    #[error("the access token is missing, invalid or expired")]
    InvalidToken,
    /// A dependency failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves the caller of a request from its access token.
pub async fn authenticate<T: TokenStore, K: Clock>(
    tokens: &T,
    clock: &K,
    access_token: Option<&str>,
) -> Result<Principal, AuthError> {
    let token = access_token.filter(|t| !t.is_empty()).ok_or(AuthError::InvalidToken)?;
    let grant = tokens.token(&auth::token_hash(token)).await?.ok_or(AuthError::InvalidToken)?;
    if grant.kind != TokenKind::Access || !grant.is_valid_at(clock.now()) {
        return Err(AuthError::InvalidToken);
    }
    Ok(grant.principal)
}
