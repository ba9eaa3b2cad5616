//! Port of phonebooks (`crate::phonebook`): stored with a claim on their (case-insensitive) name.

use crate::ids::PhonebookId;
use crate::phonebook::{Phonebook, PhonebookSummary};

use super::StoreError;

/// Why a phonebook could not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhonebookConflict {
    /// Another phonebook has the name (case-insensitive).
    NameTaken,
    /// The phonebook being replaced no longer exists.
    Missing,
}

/// Reads and stores phonebooks.
pub trait Phonebooks {
    /// By id, with its contacts.
    async fn phonebook(&self, id: PhonebookId) -> Result<Option<Phonebook>, StoreError>;
    /// Every phonebook (without contacts), by id.
    async fn phonebooks(&self) -> Result<Vec<PhonebookSummary>, StoreError>;
    /// Stores a new phonebook and claims its name, atomically.
    async fn create_phonebook(&self, book: &Phonebook) -> Result<Result<(), PhonebookConflict>, StoreError>;
    /// Replaces a phonebook (same id), moving its name claim when the name changes, atomically.
    async fn update_phonebook(
        &self,
        before: &Phonebook,
        after: &Phonebook,
    ) -> Result<Result<(), PhonebookConflict>, StoreError>;
    /// Deletes a phonebook and its name claim.
    async fn delete_phonebook(&self, book: &Phonebook) -> Result<(), StoreError>;
}
