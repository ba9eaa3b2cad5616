//! Auth table: tokens by hash (expiring through the table's TTL) and `Idempotency-Key` records.

use aws_sdk_dynamodb::types::AttributeValue;
use domain::auth::{AuthFailures, TokenGrant};
use domain::ports::{IdempotencyStart, IdempotencyStore, StoreError, TokenStore};
use domain::services::idempotency::{IN_PROGRESS_LEASE, KEY_TTL};
use domain::time::Timestamp;

use super::errors::{corrupt, store_error};
use super::items::{self, IdempotencyItem, TokenItem};
use super::{DynamoStore, key_map, keys, n, s};

impl TokenStore for DynamoStore {
    async fn put_token(&self, token_hash: &str, grant: &TokenGrant) -> Result<(), StoreError> {
        let (pk, sk) = keys::token(token_hash);
        let item = TokenItem { pk, sk, grant: grant.clone(), expires_at: grant.expires_at.as_unix_seconds() };
        self.client
            .put_item()
            .table_name(&self.tables.auth)
            .set_item(Some(items::to_item("token", &item).map_err(|e| corrupt("store token", e))?))
            .send()
            .await
            .map_err(|e| store_error("store token", e))?;
        Ok(())
    }

    async fn token(&self, token_hash: &str) -> Result<Option<TokenGrant>, StoreError> {
        match self.get("read token", &self.tables.auth, keys::token(token_hash)).await? {
            Some(item) => {
                let stored: TokenItem = items::from_item("token", item).map_err(|e| corrupt("read token", e))?;
                Ok(Some(stored.grant))
            }
            None => Ok(None),
        }
    }

    async fn delete_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.auth)
            .set_key(Some(key_map(keys::token(token_hash))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("delete token", e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn auth_failures(&self, source: &str) -> Result<Option<AuthFailures>, StoreError> {
        match self.get("read failed logins", &self.tables.auth, keys::auth_failures(source)).await? {
            Some(item) => {
                let stored: AuthFailuresItem =
                    items::from_item("failed logins", item).map_err(|e| corrupt("read failed logins", e))?;
                Ok(Some(stored.failures))
            }
            None => Ok(None),
        }
    }

    async fn put_auth_failures(&self, source: &str, failures: &AuthFailures) -> Result<(), StoreError> {
        let (pk, sk) = keys::auth_failures(source);
        let expires_at = failures.last_at.plus(domain::auth::AUTH_BLOCK).as_unix_seconds();
        let item = AuthFailuresItem { pk, sk, failures: *failures, expires_at };
        self.client
            .put_item()
            .table_name(&self.tables.auth)
            .set_item(Some(items::to_item("failed logins", &item).map_err(|e| corrupt("store failed logins", e))?))
            .send()
            .await
            .map_err(|e| store_error("store failed logins", e))?;
        Ok(())
    }

    async fn clear_auth_failures(&self, source: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.auth)
            .set_key(Some(key_map(keys::auth_failures(source))))
            .send()
            .await
            .map_err(|e| store_error("clear failed logins", e))?;
        Ok(())
    }
}

/// A source address's failed logins (TTL `expires_at`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct AuthFailuresItem {
    pk: String,
    sk: String,
    failures: AuthFailures,
    expires_at: i64,
}

impl IdempotencyStore for DynamoStore {
    async fn start(&self, scope_key: &str, fingerprint: &str, now: Timestamp) -> Result<IdempotencyStart, StoreError> {
        let (pk, sk) = keys::idempotency(scope_key);
        let item = IdempotencyItem {
            pk,
            sk,
            fingerprint: fingerprint.to_owned(),
            state: "in_progress".into(),
            response: None,
            lease_until: now.plus(IN_PROGRESS_LEASE).as_micros(),
            expires_at: now.plus(KEY_TTL).as_unix_seconds(),
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.auth)
            .set_item(Some(items::to_item("idempotency", &item).map_err(|e| corrupt("start idempotent request", e))?))
            .condition_expression(
                "attribute_not_exists(pk) OR (#st = :in_progress AND lease_until < :now AND #fp = :fp)",
            )
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#fp", "fingerprint")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":now", n(now.as_micros()))
            .expression_attribute_values(":fp", s(fingerprint))
            .send()
            .await;
        match result {
            Ok(_) => Ok(IdempotencyStart::Fresh),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let Some(item) =
                    self.get("read idempotency key", &self.tables.auth, keys::idempotency(scope_key)).await?
                else {
                    return Ok(IdempotencyStart::InProgress);
                };
                let stored: IdempotencyItem =
                    items::from_item("idempotency", item).map_err(|e| corrupt("read idempotency key", e))?;
                Ok(match (stored.fingerprint == fingerprint, stored.state.as_str(), stored.response) {
                    (false, _, _) => IdempotencyStart::Mismatch,
                    (true, "done", Some(response)) => IdempotencyStart::Replay(response),
                    _ => IdempotencyStart::InProgress,
                })
            }
            Err(err) => Err(store_error("start idempotent request", err)),
        }
    }

    async fn complete(&self, scope_key: &str, response: &str, now: Timestamp) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.auth)
            .set_key(Some(key_map(keys::idempotency(scope_key))))
            .update_expression("SET #st = :done, #r = :r, expires_at = :exp")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#r", "response")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":r", AttributeValue::S(response.to_owned()))
            .expression_attribute_values(":exp", n(now.plus(KEY_TTL).as_unix_seconds()))
            .send()
            .await
            .map_err(|e| store_error("complete idempotent request", e))?;
        Ok(())
    }

    async fn release(&self, scope_key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.auth)
            .set_key(Some(key_map(keys::idempotency(scope_key))))
            .send()
            .await
            .map_err(|e| store_error("release idempotency key", e))?;
        Ok(())
    }
}
