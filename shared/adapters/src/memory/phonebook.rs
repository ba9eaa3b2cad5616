//! In-memory phonebooks, with the DynamoDB adapter's rules: names unique (case-insensitive), a
//! replaced phonebook must exist.

use domain::ids::PhonebookId;
use domain::phonebook::{Phonebook, PhonebookSummary, name_key};
use domain::ports::{PhonebookConflict, Phonebooks, StoreError};

use super::{InMemoryStore, lock};

impl Phonebooks for InMemoryStore {
    async fn phonebook(&self, id: PhonebookId) -> Result<Option<Phonebook>, StoreError> {
        Ok(lock(&self.state).phonebooks.get(&id).cloned())
    }

    async fn phonebooks(&self) -> Result<Vec<PhonebookSummary>, StoreError> {
        Ok(lock(&self.state).phonebooks.values().map(Phonebook::summary).collect())
    }

    async fn create_phonebook(&self, book: &Phonebook) -> Result<Result<(), PhonebookConflict>, StoreError> {
        let mut s = lock(&self.state);
        if s.phonebooks.values().any(|b| name_key(&b.name) == name_key(&book.name)) {
            return Ok(Err(PhonebookConflict::NameTaken));
        }
        s.phonebooks.insert(book.id, book.clone());
        Ok(Ok(()))
    }

    async fn update_phonebook(
        &self,
        before: &Phonebook,
        after: &Phonebook,
    ) -> Result<Result<(), PhonebookConflict>, StoreError> {
        let mut s = lock(&self.state);
        if !s.phonebooks.contains_key(&before.id) {
            return Ok(Err(PhonebookConflict::Missing));
        }
        if s.phonebooks.values().any(|b| b.id != after.id && name_key(&b.name) == name_key(&after.name)) {
            return Ok(Err(PhonebookConflict::NameTaken));
        }
        s.phonebooks.insert(after.id, after.clone());
        Ok(Ok(()))
    }

    async fn delete_phonebook(&self, book: &Phonebook) -> Result<(), StoreError> {
        lock(&self.state).phonebooks.remove(&book.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use domain::openapi::phonebooks::{PhonebookDraft, parse_create};
    use domain::phonebook::{Contact, NumberType};
    use domain::services::phonebooks::{PhonebookError, create_phonebook, delete_phonebook, update_phonebook};
    use serde_json::json;

    use super::*;

    fn draft(name: &str, numbers: &[&str]) -> PhonebookDraft {
        PhonebookDraft {
            name: name.into(),
            contacts: numbers
                .iter()
                .map(|n| Contact { name: "C".into(), numbers: [(NumberType::Mobile, (*n).to_owned())].into() })
                .collect(),
        }
    }

    fn refusal(e: PhonebookError) -> domain::openapi::ApiError {
        match e {
            PhonebookError::Refused(api) => api,
            PhonebookError::Store(s) => panic!("store error {s}"),
        }
    }

    #[tokio::test]
    async fn when_phonebooks_are_created_updated_and_deleted_should_keep_names_unique() {
        let store = InMemoryStore::new();
        let a = create_phonebook(&store, draft(" VIP ", &["+12025550101"])).await.unwrap();
        assert_eq!((a.id.get(), a.name.as_str()), (1, "VIP"));
        let err = refusal(create_phonebook(&store, draft("vip", &[])).await.unwrap_err());
        assert_eq!(err.code.code(), 40003);
        let b = create_phonebook(&store, draft("Other", &[])).await.unwrap();
        let err = refusal(update_phonebook(&store, &b, draft("Vip", &[])).await.unwrap_err());
        assert_eq!(err.code.code(), 40003);
        let renamed = update_phonebook(&store, &a, draft("Gold", &["+12025550102"])).await.unwrap();
        assert_eq!(store.phonebook(a.id).await.unwrap(), Some(renamed.clone()));
        let names: Vec<String> = store.phonebooks().await.unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["Gold", "Other"]);
        delete_phonebook(&store, &renamed).await.unwrap();
        assert_eq!(store.phonebook(a.id).await.unwrap(), None);
        let err = refusal(update_phonebook(&store, &renamed, draft("Gold", &[])).await.unwrap_err());
        assert_eq!(err.code.code(), 70093);
    }

    #[tokio::test]
    async fn when_a_number_is_bad_should_store_nothing_and_take_no_id() {
        let store = InMemoryStore::new();
        let body = json!({"name": "VIP", "contacts": [
            {"name": "Alice", "mobile_number": "+12025550101"},
            {"name": "Bob", "business_number": "555-0102"}
        ]});
        let err = refusal(create_phonebook(&store, parse_create(&body).unwrap()).await.unwrap_err());
        assert_eq!(err.code.code(), 40002);
        assert_eq!(err.invalid_params[0].field, "contacts[1].business_number");
        assert!(store.phonebooks().await.unwrap().is_empty());
        let ok = create_phonebook(&store, draft("VIP", &[])).await.unwrap();
        assert_eq!(ok.id.get(), 1);
    }
}
