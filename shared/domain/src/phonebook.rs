//! Phonebooks: named lists of contacts whose numbers a message campaign can send to (seed 001
//! §4.3-§4.4: "select a phonebook, then a Number Type"). Ours, small: Yeastar's company contacts
//! are out of scope, so a phonebook here holds its contacts itself.
//!
//! Rules ([`Phonebook::new`]): the name is 1 to [`NAME_MAX`] characters and unique among
//! phonebooks (case-insensitive, [`name_key`]; the store enforces it); at most
//! [`MAX_PHONEBOOK_CONTACTS`] contacts, each with a name of 1 to [`CONTACT_NAME_MAX`]
//! characters and at least one number; every number must be E.164 ("the numbers must be stored in
//! E.164 format", seed 002 L7923-7947) — a bad one is refused naming the contact's index and the
//! number type, never fixed or dropped. A number may appear in several contacts; campaigns
//! de-duplicate ([`Phonebook::recipients`]).

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::PhonebookId;
use crate::openapi::FieldError;
use crate::phone::E164;
use crate::recipients::{Collector, RecipientList, RecipientListError};

pub use crate::groups::name_key;

/// Longest phonebook name, in characters.
pub const NAME_MAX: usize = 127;
/// Longest contact name, in characters.
pub const CONTACT_NAME_MAX: usize = 127;
/// Most contacts in one phonebook (a campaign takes at most 1000 numbers).
pub const MAX_PHONEBOOK_CONTACTS: usize = 1000;

/// A contact's number types (Yeastar `recipient_num_type`, yeastar-openapi-messaging.md §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NumberType {
    /// `business_number`.
    Business,
    /// `business_number2`.
    Business2,
    /// `mobile_number`.
    Mobile,
    /// `mobile_number2`.
    Mobile2,
    /// `home_number`.
    Home,
    /// `home_number2`.
    Home2,
    /// `business_fax`.
    BusinessFax,
    /// `home_fax`.
    HomeFax,
    /// `other_number`.
    Other,
}

impl NumberType {
    /// Every type, in Yeastar's order.
    pub const ALL: [NumberType; 9] = [
        NumberType::Business,
        NumberType::Business2,
        NumberType::Mobile,
        NumberType::Mobile2,
        NumberType::Home,
        NumberType::Home2,
        NumberType::BusinessFax,
        NumberType::HomeFax,
        NumberType::Other,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::Business => "business_number",
            NumberType::Business2 => "business_number2",
            NumberType::Mobile => "mobile_number",
            NumberType::Mobile2 => "mobile_number2",
            NumberType::Home => "home_number",
            NumberType::Home2 => "home_number2",
            NumberType::BusinessFax => "business_fax",
            NumberType::HomeFax => "home_fax",
            NumberType::Other => "other_number",
        }
    }

    /// From the wire name (exact).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Display name.
    pub name: String,
    /// Its numbers by type (E.164 once validated).
    pub numbers: BTreeMap<NumberType, String>,
}

/// A phonebook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phonebook {
    /// Id.
    pub id: PhonebookId,
    /// Name (unique, case-insensitive).
    pub name: String,
    /// Contacts, in the order given.
    pub contacts: Vec<Contact>,
}

/// What a list of phonebooks shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonebookSummary {
    /// Id.
    pub id: PhonebookId,
    /// Name.
    pub name: String,
    /// How many contacts it holds.
    pub contact_count: usize,
}

impl Phonebook {
    /// A validated phonebook (see [`validate`]).
    pub fn new(id: PhonebookId, name: &str, contacts: Vec<Contact>) -> Result<Self, Vec<FieldError>> {
        let (name, contacts) = validate(name, contacts)?;
        Ok(Self { id, name, contacts })
    }

    /// The summary shown in lists.
    pub fn summary(&self) -> PhonebookSummary {
        PhonebookSummary { id: self.id, name: self.name.clone(), contact_count: self.contacts.len() }
    }
}

/// Validates a phonebook's name and contacts: names and numbers trimmed, every problem reported
/// at once as a field error (`name`, `contacts`, `contacts[i].name`, `contacts[i]` for a contact
/// without numbers, `contacts[i].<number type>` for a number that is not E.164).
pub fn validate(name: &str, contacts: Vec<Contact>) -> Result<(String, Vec<Contact>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = name.trim().to_owned();
    check_name(&mut errors, "name", &name, NAME_MAX);
    if contacts.len() > MAX_PHONEBOOK_CONTACTS {
        errors.push(FieldError::new(
            "contacts",
            "range",
            format!("has {} contacts; a phonebook holds at most {MAX_PHONEBOOK_CONTACTS}", contacts.len()),
        ));
    }
    let mut clean = Vec::with_capacity(contacts.len());
    for (i, contact) in contacts.into_iter().enumerate() {
        let contact_name = contact.name.trim().to_owned();
        check_name(&mut errors, &format!("contacts[{i}].name"), &contact_name, CONTACT_NAME_MAX);
        let mut numbers = BTreeMap::new();
        for (kind, number) in contact.numbers {
            let number = number.trim().to_owned();
            if let Err(e) = E164::parse(&number) {
                errors.push(FieldError::new(
                    format!("contacts[{i}].{kind}"),
                    "format",
                    format!("contact {i} ('{contact_name}'): {kind} '{number}' {e}"),
                ));
            }
            numbers.insert(kind, number);
        }
        if numbers.is_empty() {
            errors.push(FieldError::new(
                format!("contacts[{i}]"),
                "required",
                format!("contact {i} ('{contact_name}') has no number; give at least one of the number types"),
            ));
        }
        clean.push(Contact { name: contact_name, numbers });
    }
    if errors.is_empty() { Ok((name, clean)) } else { Err(errors) }
}

impl Phonebook {
    /// A campaign's recipients: every contact's numbers of the chosen `types` (in contact order,
    /// then in the order of `types`), the contact's name as `contact_name`, duplicates kept once
    /// and reported. A row's "line" is the contact's 1-based position.
    pub fn recipients(&self, types: &[NumberType]) -> Result<RecipientList, RecipientListError> {
        let mut collector = Collector::default();
        for (i, contact) in self.contacts.iter().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let mut seen = Vec::with_capacity(types.len());
            for kind in types {
                if seen.contains(kind) {
                    continue;
                }
                seen.push(*kind);
                if let Some(number) = contact.numbers.get(kind) {
                    collector.add(line, number, Some(&contact.name));
                }
            }
        }
        collector.finish()
    }
}

fn check_name(errors: &mut Vec<FieldError>, field: &str, name: &str, max: usize) {
    let chars = name.chars().count();
    if chars == 0 {
        errors.push(FieldError::new(field, "required", "is required"));
    } else if chars > max {
        errors.push(FieldError::new(field, "length", format!("must be at most {max} characters")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipients::DuplicateRow;

    fn id() -> PhonebookId {
        PhonebookId::new(1).unwrap()
    }

    fn contact(name: &str, numbers: &[(NumberType, &str)]) -> Contact {
        Contact { name: name.into(), numbers: numbers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect() }
    }

    #[test]
    fn when_number_types_round_trip_should_match_yeastar_names() {
        let names: Vec<&str> = NumberType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "business_number",
                "business_number2",
                "mobile_number",
                "mobile_number2",
                "home_number",
                "home_number2",
                "business_fax",
                "home_fax",
                "other_number"
            ]
        );
        for t in NumberType::ALL {
            assert_eq!(NumberType::parse(t.as_str()), Some(t));
        }
        assert_eq!(NumberType::parse("Mobile_Number"), None);
        assert_eq!(NumberType::parse("mobile"), None);
    }

    #[test]
    fn when_phonebook_is_valid_should_trim_names_and_numbers() {
        let book =
            Phonebook::new(id(), " VIP ", vec![contact(" Alice ", &[(NumberType::Mobile, " +12025550101 ")])]).unwrap();
        assert_eq!(book.name, "VIP");
        assert_eq!(book.contacts[0].name, "Alice");
        assert_eq!(book.contacts[0].numbers[&NumberType::Mobile], "+12025550101");
        assert_eq!(book.summary().contact_count, 1);
    }

    #[test]
    fn when_a_number_is_not_e164_should_name_the_contact_index_and_type() {
        let errors = Phonebook::new(
            id(),
            "VIP",
            vec![
                contact("Alice", &[(NumberType::Business, "+12025550101")]),
                contact("Bob", &[(NumberType::Business, "+12025550102"), (NumberType::HomeFax, "2025550103")]),
            ],
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "contacts[1].home_fax");
        assert!(errors[0].message.contains("'Bob'"), "{}", errors[0].message);
    }

    #[test]
    fn when_names_or_numbers_are_missing_should_report_every_problem() {
        let errors = Phonebook::new(id(), "  ", vec![contact("", &[]), contact(&"x".repeat(128), &[])]).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "contacts[0].name", "contacts[0]", "contacts[1].name", "contacts[1]"]);
        assert_eq!(errors[3].validation_type, "length");
    }

    #[test]
    fn when_there_are_more_than_1000_contacts_should_refuse_the_phonebook() {
        let many: Vec<Contact> =
            (0..1001).map(|i| contact("c", &[(NumberType::Mobile, &format!("+1202555{i:04}"))])).collect();
        let errors = Phonebook::new(id(), "Big", many.clone()).unwrap_err();
        assert_eq!(errors[0].field, "contacts");
        assert!(Phonebook::new(id(), "Big", many[..1000].to_vec()).is_ok());
    }

    #[test]
    fn when_taking_recipients_should_use_only_the_chosen_types_and_deduplicate() {
        let book = Phonebook::new(
            id(),
            "VIP",
            vec![
                contact("Alice", &[(NumberType::Business, "+12025550101"), (NumberType::Mobile, "+12025550102")]),
                contact("Bob", &[(NumberType::Home, "+12025550103")]),
                contact("Carol", &[(NumberType::Mobile, "+12025550101")]),
            ],
        )
        .unwrap();
        let list = book.recipients(&[NumberType::Mobile, NumberType::Business]).unwrap();
        let got: Vec<(&str, Option<&str>)> =
            list.entries.iter().map(|e| (e.number.as_str(), e.contact_name.as_deref())).collect();
        assert_eq!(got, [("+12025550102", Some("Alice")), ("+12025550101", Some("Alice"))]);
        assert_eq!(list.duplicates, [DuplicateRow { line: 3, number: "+12025550101".into(), first_line: 1 }]);
        assert_eq!(book.recipients(&[NumberType::Other]), Err(RecipientListError::Empty));
        assert_eq!(book.recipients(&[NumberType::Home]).unwrap().entries.len(), 1);
    }
}
