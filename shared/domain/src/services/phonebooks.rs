//! Use cases of phonebooks (`crate::phonebook`): create, update and delete them. Every rule is
//! checked before anything is written (an invalid phonebook does not even take an id); the name's
//! uniqueness is the store's (an atomic claim), reported as 40003 like the other named resources;
//! a phonebook that is gone is 70093 PHONEBOOK_NOT_EXISTED.

use crate::ids::{PhonebookId, Sequence};
use crate::openapi::phonebooks::PhonebookDraft;
use crate::openapi::{ApiError, ErrCode};
use crate::phonebook::{Phonebook, validate};
use crate::ports::{PhonebookConflict, Phonebooks, Sequences, StoreError};

/// Why a phonebook change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PhonebookError {
    /// Refused, with the API error to return (nothing changed).
    #[error("{}", .0.submsg.clone().unwrap_or_default())]
    Refused(ApiError),
    /// A dependency failed (nothing changed; retryable when the store says so).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ApiError> for PhonebookError {
    fn from(e: ApiError) -> Self {
        PhonebookError::Refused(e)
    }
}

/// 70093 for phonebook `id`.
pub fn not_found(id: PhonebookId) -> ApiError {
    ApiError::new(ErrCode::PhonebookNotExisted, format!("phonebook {id} does not exist"))
}

fn name_taken(name: &str) -> PhonebookError {
    ApiError::duplicate("name", name, format!("the phonebook name '{name}' is already in use")).into()
}

/// Creates a phonebook from a parsed draft.
pub async fn create_phonebook<S: Sequences + Phonebooks>(
    store: &S,
    draft: PhonebookDraft,
) -> Result<Phonebook, PhonebookError> {
    let (name, contacts) = validate(&draft.name, draft.contacts).map_err(ApiError::invalid)?;
    let id = PhonebookId::new(store.next_id(Sequence::Phonebook).await?)
        .map_err(|e| StoreError::permanent("allocate phonebook id", e))?;
    let book = Phonebook { id, name, contacts };
    match store.create_phonebook(&book).await? {
        Ok(()) => Ok(book),
        Err(_) => Err(name_taken(&book.name)),
    }
}

/// Applies a parsed `phonebook/update` to stored phonebook `before`.
pub async fn update_phonebook<S: Phonebooks>(
    store: &S,
    before: &Phonebook,
    draft: PhonebookDraft,
) -> Result<Phonebook, PhonebookError> {
    let after = Phonebook::new(before.id, &draft.name, draft.contacts).map_err(ApiError::invalid)?;
    match store.update_phonebook(before, &after).await? {
        Ok(()) => Ok(after),
        Err(PhonebookConflict::NameTaken) => Err(name_taken(&after.name)),
        Err(PhonebookConflict::Missing) => Err(not_found(before.id).into()),
    }
}

/// Deletes a phonebook.
pub async fn delete_phonebook<S: Phonebooks>(store: &S, book: &Phonebook) -> Result<(), PhonebookError> {
    store.delete_phonebook(book).await?;
    Ok(())
}
