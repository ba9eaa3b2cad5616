//! `phonebook/*` request and response shapes (ours, in Yeastar's conventions; docs/api.md
//! "Phonebooks"). A contact is `{"name": "...", "<number type>": "+1..."}` with the number types
//! of Yeastar's `recipient_num_type` (`business_number`, `mobile_number`, ...) as keys.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::openapi::{ApiError, Fields};
use crate::phonebook::{Contact, NumberType, Phonebook, PhonebookSummary};

/// A parsed `phonebook/create` (or update, filled from the stored phonebook); rules are checked
/// by `crate::phonebook::validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonebookDraft {
    /// Name (as given).
    pub name: String,
    /// Contacts (as given).
    pub contacts: Vec<Contact>,
}

fn contacts(f: &mut Fields<'_>, items: &[Value]) -> Vec<Contact> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("contacts[{i}]");
        let Some(object) = item.as_object() else {
            f.errors.push(crate::openapi::FieldError::new(prefix, "type", "must be an object"));
            continue;
        };
        let mut c = Fields::nested(item, prefix);
        let name = c.string("name").unwrap_or_default();
        let mut numbers = BTreeMap::new();
        for key in object.keys() {
            if key == "name" {
                continue;
            }
            match NumberType::parse(key) {
                Some(kind) => {
                    if let Some(number) = c.opt_string(key) {
                        numbers.insert(kind, number);
                    }
                }
                None => c.error(
                    key,
                    "unsupported",
                    format!(
                        "is not a contact field; use name and the number types: {}",
                        NumberType::ALL.map(NumberType::as_str).join(", ")
                    ),
                ),
            }
        }
        f.errors.append(&mut c.errors);
        out.push(Contact { name, numbers });
    }
    out
}

/// Parses `phonebook/create`: `name` (required) and `contacts` (optional, default none).
pub fn parse_create(body: &Value) -> Result<PhonebookDraft, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name").unwrap_or_default();
    let list = f.opt_array("contacts").map(|items| contacts(&mut f, items)).unwrap_or_default();
    f.finish()?;
    Ok(PhonebookDraft { name, contacts: list })
}

/// Parses `phonebook/update` onto the stored phonebook: `name` and `contacts` replace the stored
/// ones when given (the whole contact list is replaced).
pub fn parse_update(body: &Value, before: &Phonebook) -> Result<PhonebookDraft, ApiError> {
    let mut f = Fields::new(body);
    let name = f.opt_string("name").unwrap_or_else(|| before.name.clone());
    let list = match f.opt_array("contacts") {
        Some(items) => contacts(&mut f, items),
        None => before.contacts.clone(),
    };
    f.finish()?;
    Ok(PhonebookDraft { name, contacts: list })
}

/// A contact: `name` and each number it has, by type.
pub fn contact_json(contact: &Contact) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), json!(contact.name));
    for (kind, number) in &contact.numbers {
        map.insert(kind.as_str().into(), json!(number));
    }
    Value::Object(map)
}

/// `phonebook/get`'s `data`.
pub fn phonebook_json(book: &Phonebook) -> Value {
    json!({
        "id": book.id,
        "name": book.name,
        "contact_count": book.contacts.len(),
        "contacts": book.contacts.iter().map(contact_json).collect::<Vec<_>>(),
    })
}

/// One entry of `phonebook/list`'s `data`.
pub fn summary_json(summary: &PhonebookSummary) -> Value {
    json!({"id": summary.id, "name": summary.name, "contact_count": summary.contact_count})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PhonebookId;

    #[test]
    fn when_create_is_parsed_should_read_contacts_by_number_type() {
        let body = json!({"name": "VIP", "contacts": [
            {"name": "Alice", "business_number": "+12025550101", "mobile_number2": "+12025550102"}
        ]});
        let draft = parse_create(&body).unwrap();
        assert_eq!(draft.name, "VIP");
        assert_eq!(draft.contacts[0].numbers[&NumberType::Business], "+12025550101");
        assert_eq!(draft.contacts[0].numbers[&NumberType::Mobile2], "+12025550102");
    }

    #[test]
    fn when_fields_are_wrong_should_name_each_one() {
        let body = json!({"contacts": [{"name": "A", "mobile": "+12025550101"}, 3]});
        let err = parse_create(&body).unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "contacts[0].mobile", "contacts[1]"]);
        assert_eq!(err.code.code(), 40002);
    }

    #[test]
    fn when_update_leaves_fields_out_should_keep_the_stored_ones() {
        let before = Phonebook {
            id: PhonebookId::new(4).unwrap(),
            name: "Old".into(),
            contacts: vec![Contact { name: "A".into(), numbers: BTreeMap::new() }],
        };
        let draft = parse_update(&json!({"id": 4, "name": "New"}), &before).unwrap();
        assert_eq!((draft.name.as_str(), draft.contacts.len()), ("New", 1));
        let draft = parse_update(&json!({"id": 4, "contacts": []}), &before).unwrap();
        assert_eq!((draft.name.as_str(), draft.contacts.len()), ("Old", 0));
    }

    #[test]
    fn when_shown_should_list_contacts_with_their_types() {
        let mut numbers = BTreeMap::new();
        numbers.insert(NumberType::Home, "+12025550101".to_owned());
        let book = Phonebook {
            id: PhonebookId::new(2).unwrap(),
            name: "B".into(),
            contacts: vec![Contact { name: "A".into(), numbers }],
        };
        assert_eq!(
            phonebook_json(&book),
            json!({"id": 2, "name": "B", "contact_count": 1, "contacts": [{"name": "A", "home_number": "+12025550101"}]})
        );
        assert_eq!(summary_json(&book.summary()), json!({"id": 2, "name": "B", "contact_count": 1}));
    }
}
