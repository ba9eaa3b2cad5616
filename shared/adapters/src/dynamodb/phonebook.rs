//! Directory table: phonebooks. One partition per phonebook (`PHONEBOOK#{id}`): the summary item
//! (`PHONEBOOK`, listed through the KindIndex) and its contacts in chunk items (`CONTACTS#{n}`,
//! [`CHUNK`] contacts each, so a full phonebook stays far below DynamoDB's 400 KB item limit),
//! plus a claim on the (case-insensitive) name. Every write is one transaction; the summary names
//! how many chunks are current and their revision, so a reader never mixes chunks of two writes
//! (it reads again) and leftover chunks of a shrunk phonebook are ignored.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use domain::ids::PhonebookId;
use domain::phonebook::{Contact, NumberType, Phonebook, PhonebookSummary, name_key};
use domain::ports::{PhonebookConflict, Phonebooks, StoreError};
use serde::{Deserialize, Serialize};

use super::directory::{delete_if, encode, put_if, put_new};
use super::errors::{corrupt, failed_condition, store_error};
use super::items::{self, ClaimItem, CorruptItem};
use super::{DynamoStore, key_map, keys, n, s};

/// Contacts per chunk item (a contact is at most ~1 KB: a 127-character name and nine numbers).
const CHUNK: usize = 200;
/// How many times a read that saw a write half-way is repeated.
const READ_ATTEMPTS: u32 = 3;

/// The summary item.
#[derive(Debug, Serialize, Deserialize)]
struct PhonebookItem {
    pk: String,
    sk: String,
    kind: String,
    kind_sort: String,
    id: u64,
    name: String,
    contact_count: u64,
    /// How many chunk items hold the contacts.
    chunks: u32,
    /// Which write the chunks belong to.
    rev: u64,
}

/// One chunk of contacts.
#[derive(Debug, Serialize, Deserialize)]
struct ContactsItem {
    pk: String,
    sk: String,
    rev: u64,
    contacts: Vec<StoredContact>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredContact {
    name: String,
    /// Number type wire name → number.
    numbers: BTreeMap<String, String>,
}

fn bad(reason: impl Into<String>) -> CorruptItem {
    CorruptItem { kind: "phonebook", reason: reason.into() }
}

fn chunk_count(contacts: usize) -> u32 {
    u32::try_from(contacts.div_ceil(CHUNK)).unwrap_or(u32::MAX)
}

fn summary_of(item: &PhonebookItem) -> Result<PhonebookSummary, CorruptItem> {
    Ok(PhonebookSummary {
        id: PhonebookId::new(item.id).map_err(|e| bad(e.to_string()))?,
        name: item.name.clone(),
        contact_count: usize::try_from(item.contact_count).map_err(|e| bad(e.to_string()))?,
    })
}

fn contact_of(stored: StoredContact) -> Result<Contact, CorruptItem> {
    let numbers = stored
        .numbers
        .into_iter()
        .map(|(k, v)| NumberType::parse(&k).map(|t| (t, v)).ok_or_else(|| bad(format!("number type {k}"))))
        .collect::<Result<_, _>>()?;
    Ok(Contact { name: stored.name, numbers })
}

/// The items of a phonebook written with revision `rev`.
fn encode_book(book: &Phonebook, rev: u64) -> Result<(items::Item, Vec<items::Item>), StoreError> {
    let (pk, sk) = keys::phonebook(book.id);
    let summary = PhonebookItem {
        pk,
        sk,
        kind: keys::kind::PHONEBOOK.into(),
        kind_sort: keys::pad(book.id.get()),
        id: book.id.get(),
        name: book.name.clone(),
        contact_count: book.contacts.len() as u64,
        chunks: chunk_count(book.contacts.len()),
        rev,
    };
    let mut chunks = Vec::new();
    for (i, part) in book.contacts.chunks(CHUNK).enumerate() {
        let (pk, sk) = keys::phonebook_contacts(book.id, u32::try_from(i).unwrap_or(u32::MAX));
        let contacts = part
            .iter()
            .map(|c| StoredContact {
                name: c.name.clone(),
                numbers: c.numbers.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect(),
            })
            .collect();
        chunks.push(encode("phonebook contacts", &ContactsItem { pk, sk, rev, contacts })?);
    }
    Ok((encode("phonebook", &summary)?, chunks))
}

/// An unconditional put in a transaction.
fn put(table: &str, item: items::Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder().table_name(table).set_item(Some(item)).build().map_err(|e| corrupt("build put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// What each item of a transaction is, by index, to say which condition failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The summary (must not exist on create, must exist on replace).
    Book,
    /// A new name claim.
    NameClaim,
    /// Anything else (chunks, a released claim).
    Other,
}

impl DynamoStore {
    /// Every item of a phonebook's partition (summary and chunks), strongly consistent.
    async fn phonebook_items(&self, operation: &'static str, id: PhonebookId) -> Result<Vec<items::Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.directory)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::phonebook_partition(id)));
        self.query_all(operation, query).await
    }

    /// Reads a phonebook once: `Ok(None)` when it is gone, `Err(None)` when the chunks read do
    /// not match the summary (a write landed in between).
    async fn read_phonebook(&self, id: PhonebookId) -> Result<Option<Option<Phonebook>>, StoreError> {
        const OP: &str = "read phonebook";
        let summary_sk = keys::phonebook(id).1;
        let mut summary: Option<PhonebookItem> = None;
        let mut chunks: BTreeMap<String, ContactsItem> = BTreeMap::new();
        for item in self.phonebook_items(OP, id).await? {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == summary_sk {
                summary = Some(items::from_item("phonebook", item).map_err(|e| corrupt(OP, e))?);
            } else if sk.starts_with("CONTACTS#") {
                chunks.insert(sk, items::from_item("phonebook contacts", item).map_err(|e| corrupt(OP, e))?);
            }
        }
        let Some(summary) = summary else { return Ok(Some(None)) };
        let mut contacts = Vec::new();
        for i in 0..summary.chunks {
            let sk = keys::phonebook_contacts(id, i).1;
            match chunks.remove(&sk) {
                Some(chunk) if chunk.rev == summary.rev => {
                    for stored in chunk.contacts {
                        contacts.push(contact_of(stored).map_err(|e| corrupt(OP, e))?);
                    }
                }
                _ => return Ok(None),
            }
        }
        if contacts.len() as u64 != summary.contact_count {
            return Ok(None);
        }
        let head = summary_of(&summary).map_err(|e| corrupt(OP, e))?;
        Ok(Some(Some(Phonebook { id: head.id, name: head.name, contacts })))
    }

    /// Writes a phonebook (new, or replacing `before`), moving the name claim; one transaction.
    async fn write_phonebook(
        &self,
        operation: &'static str,
        before: Option<&Phonebook>,
        after: &Phonebook,
    ) -> Result<Result<(), PhonebookConflict>, StoreError> {
        let table = &self.tables.directory;
        let rev = rand::random::<u64>();
        let (summary, chunks) = encode_book(after, rev)?;
        let mut tx = vec![match before {
            Some(_) => put_if(table, summary, "attribute_exists(pk)")?,
            None => put_new(table, summary)?,
        }];
        let mut steps = vec![Step::Book];
        for chunk in chunks {
            tx.push(put(table, chunk)?);
            steps.push(Step::Other);
        }
        if let Some(before) = before {
            // Chunks the shrunk phonebook no longer uses (readers ignore them anyway).
            for i in chunk_count(after.contacts.len())..chunk_count(before.contacts.len()) {
                tx.push(delete_if(table, keys::phonebook_contacts(after.id, i), None, vec![])?);
                steps.push(Step::Other);
            }
        }
        let old_name = before.map(|b| b.name.as_str());
        if old_name.map(name_key) != Some(name_key(&after.name)) {
            tx.push(put_new(
                table,
                encode("claim", &ClaimItem::new(keys::phonebook_name(&after.name), after.id.get()))?,
            )?);
            steps.push(Step::NameClaim);
            if let Some(old) = old_name {
                tx.push(delete_if(
                    table,
                    keys::phonebook_name(old),
                    Some("owner_id = :id"),
                    vec![(":id", n(after.id.get()))],
                )?);
                steps.push(Step::Other);
            }
        }
        match self.transact(operation, tx).await? {
            Ok(()) => Ok(Ok(())),
            Err(reasons) => {
                let failed =
                    steps.iter().enumerate().filter(|(i, _)| failed_condition(&reasons, *i)).find_map(|(_, step)| {
                        match step {
                            Step::Book if before.is_some() => Some(PhonebookConflict::Missing),
                            // A new phonebook's id is fresh from the sequence: its summary cannot
                            // exist, so this is a store problem, not a conflict.
                            Step::Book | Step::Other => None,
                            Step::NameClaim => Some(PhonebookConflict::NameTaken),
                        }
                    });
                match failed {
                    Some(conflict) => Ok(Err(conflict)),
                    None => Err(corrupt(operation, format!("transaction cancelled: {reasons:?}"))),
                }
            }
        }
    }
}

impl Phonebooks for DynamoStore {
    async fn phonebook(&self, id: PhonebookId) -> Result<Option<Phonebook>, StoreError> {
        for _ in 0..READ_ATTEMPTS {
            if let Some(found) = self.read_phonebook(id).await? {
                return Ok(found);
            }
        }
        Err(StoreError::retryable("read phonebook", format!("phonebook {id} kept changing while being read")))
    }

    async fn phonebooks(&self) -> Result<Vec<PhonebookSummary>, StoreError> {
        self.kind_items(keys::kind::PHONEBOOK)
            .await?
            .into_iter()
            .map(|item| {
                let stored: PhonebookItem =
                    items::from_item("phonebook", item).map_err(|e| corrupt("list phonebooks", e))?;
                summary_of(&stored).map_err(|e| corrupt("list phonebooks", e))
            })
            .collect()
    }

    async fn create_phonebook(&self, book: &Phonebook) -> Result<Result<(), PhonebookConflict>, StoreError> {
        self.write_phonebook("create phonebook", None, book).await
    }

    async fn update_phonebook(
        &self,
        before: &Phonebook,
        after: &Phonebook,
    ) -> Result<Result<(), PhonebookConflict>, StoreError> {
        self.write_phonebook("update phonebook", Some(before), after).await
    }

    async fn delete_phonebook(&self, book: &Phonebook) -> Result<(), StoreError> {
        const OP: &str = "delete phonebook";
        let table = &self.tables.directory;
        let mut item_keys = Vec::new();
        for item in self.phonebook_items(OP, book.id).await? {
            let pk = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            item_keys.push((pk, sk));
        }
        let mut tx = Vec::with_capacity(item_keys.len() + 1);
        for key in &item_keys {
            tx.push(delete_if(table, key.clone(), None, vec![])?);
        }
        tx.push(delete_if(
            table,
            keys::phonebook_name(&book.name),
            Some("owner_id = :id"),
            vec![(":id", n(book.id.get()))],
        )?);
        match self.transact(OP, tx).await? {
            Ok(()) => Ok(()),
            // The claim already belongs to someone else (or is gone): only the items go.
            Err(_) => {
                for key in item_keys {
                    self.client
                        .delete_item()
                        .table_name(table)
                        .set_key(Some(key_map(key)))
                        .send()
                        .await
                        .map_err(|e| store_error(OP, e))?;
                }
                Ok(())
            }
        }
    }
}
