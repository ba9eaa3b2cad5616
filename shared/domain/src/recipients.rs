//! Campaign recipient lists (seed 001 §4.3-§4.4, seed 002 L7923-7995): the numbers a message
//! campaign sends to, given one of three ways — typed in by hand ([`from_typed`]), imported from a
//! CSV file ([`from_csv`]), or taken from a phonebook (`crate::phonebook::Phonebook::recipients`).
//!
//! Rules, the same for every way:
//! * every number must be E.164 (`+12025550101`); numbers are trimmed of surrounding whitespace
//!   but never otherwise "fixed". **Every** invalid row is reported (line, value, reason) and the
//!   whole list is refused: nothing is dropped silently;
//! * a number given twice is kept once (its first occurrence) and the later ones are reported in
//!   [`RecipientList::duplicates`] — that is not an error;
//! * at most [`MAX_CAMPAIGN_RECIPIENTS`] distinct numbers, and at least one.
//!
//! CSV files: UTF-8 only (a UTF-8 byte-order mark is accepted and stripped), CRLF or LF line
//! ends, quoted fields; the header row must have a `Number` column (matched case-insensitively,
//! trimmed); an optional `Name` column fills the contact name. Line numbers are the file's
//! physical lines (the header is line 1); blank lines are skipped. The file is at most
//! [`MAX_RECIPIENT_FILE_BYTES`] (seed 001 says "less than 50 MB", seed 002 "not more than"; we
//! accept exactly 50 MiB) and its name at most [`MAX_RECIPIENT_FILE_NAME_CHARS`] characters
//! ("less than 127 characters").

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::openapi::{ApiError, FieldError};
use crate::phone::E164;

/// Most distinct numbers one campaign sends to.
pub const MAX_CAMPAIGN_RECIPIENTS: usize = 1000;
/// Largest CSV file accepted, in bytes ("less than 50 MB").
pub const MAX_RECIPIENT_FILE_BYTES: usize = 50 * 1024 * 1024;
/// Longest CSV file name accepted, in characters ("less than 127 characters").
pub const MAX_RECIPIENT_FILE_NAME_CHARS: usize = 126;

/// How many bad rows [`RecipientListError::message`] spells out before summarising.
const MESSAGE_ROWS: usize = 5;

/// One recipient: a number and, when known, the contact's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientEntry {
    /// The number.
    pub number: E164,
    /// The contact's name (CSV `Name` column, phonebook contact), if any.
    pub contact_name: Option<String>,
}

/// A row that was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The file's physical line (header = 1), or the 1-based position in a typed list or phonebook.
    pub line: u32,
    /// The value as given (trimmed).
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

/// A number given again; the first occurrence is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRow {
    /// Where it was given again.
    pub line: u32,
    /// The number.
    pub number: String,
    /// Where it was first given.
    pub first_line: u32,
}

/// A validated recipient list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipientList {
    /// The distinct numbers, in the order first given.
    pub entries: Vec<RecipientEntry>,
    /// The numbers given more than once (not an error; reported so the administrator knows).
    pub duplicates: Vec<DuplicateRow>,
}

/// Why a recipient list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientListError {
    /// The file is not UTF-8 text.
    #[error("the file must be UTF-8 text (.csv)")]
    NotUtf8,
    /// The file name is too long.
    #[error("the file name has {chars} characters; it must have at most {MAX_RECIPIENT_FILE_NAME_CHARS}")]
    FileNameTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// The file is too large.
    #[error("the file has {bytes} bytes; it must be at most {MAX_RECIPIENT_FILE_BYTES} bytes (50 MB)")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// The header row has no `Number` column.
    #[error("the first row must be a header with a 'Number' column")]
    NoNumberColumn,
    /// No number at all.
    #[error("the list has no numbers")]
    Empty,
    /// Some rows are invalid (every one is listed).
    #[error("{} invalid row(s)", .0.len())]
    BadRows(Vec<BadRow>),
    /// More distinct numbers than a campaign takes.
    #[error("the list has {count} distinct numbers; a campaign takes at most {MAX_CAMPAIGN_RECIPIENTS}")]
    TooMany {
        /// How many distinct numbers there are.
        count: usize,
    },
}

impl RecipientListError {
    /// The request field the error is about (`file`, `file_name` or `recipients`).
    pub fn field(&self) -> &'static str {
        match self {
            Self::NotUtf8 | Self::TooLarge { .. } | Self::NoNumberColumn => "file",
            Self::FileNameTooLong { .. } => "file_name",
            Self::Empty | Self::BadRows(_) | Self::TooMany { .. } => "recipients",
        }
    }

    /// A Yeastar `validation_type` for the error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotUtf8 | Self::NoNumberColumn | Self::BadRows(_) => "format",
            Self::FileNameTooLong { .. } => "length",
            Self::TooLarge { .. } | Self::TooMany { .. } => "range",
            Self::Empty => "required",
        }
    }

    /// What is wrong, in plain words; bad rows are spelled out (the first few, then a count).
    pub fn message(&self) -> String {
        match self {
            Self::BadRows(rows) => {
                let mut parts: Vec<String> = rows
                    .iter()
                    .take(MESSAGE_ROWS)
                    .map(|r| format!("line {}: '{}' {}", r.line, r.value, r.reason))
                    .collect();
                if rows.len() > MESSAGE_ROWS {
                    parts.push(format!("and {} more", rows.len() - MESSAGE_ROWS));
                }
                format!("{} invalid row(s): {}", rows.len(), parts.join("; "))
            }
            other => other.to_string(),
        }
    }

    /// The refused rows (empty unless [`RecipientListError::BadRows`]).
    pub fn bad_rows(&self) -> &[BadRow] {
        match self {
            Self::BadRows(rows) => rows,
            _ => &[],
        }
    }

    /// A 40002 reply: one `invalid_param_list` entry per bad row (`{field}[line N]`), or one entry
    /// for the whole list. `field` overrides [`RecipientListError::field`] when given.
    pub fn to_api_error(&self, field: Option<&str>) -> ApiError {
        let field = field.unwrap_or(self.field());
        match self {
            Self::BadRows(rows) => ApiError::invalid(
                rows.iter()
                    .map(|r| {
                        FieldError::new(
                            format!("{field}[line {}]", r.line),
                            "format",
                            format!("'{}' {}", r.value, r.reason),
                        )
                    })
                    .collect(),
            ),
            other => ApiError::field(field, other.reason(), other.message()),
        }
    }
}

/// Collects numbers (with their line) into a list, applying the shared rules.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    list: RecipientList,
    first_seen: HashMap<E164, u32>,
    bad: Vec<BadRow>,
}

impl Collector {
    /// Adds one given number (trimmed here) with its contact name (trimmed; empty means none).
    pub(crate) fn add(&mut self, line: u32, number: &str, contact_name: Option<&str>) {
        let value = number.trim();
        if value.is_empty() {
            self.bad.push(BadRow { line, value: String::new(), reason: "is empty: a number is required".into() });
            return;
        }
        match E164::parse(value) {
            Ok(number) => {
                if let Some(first_line) = self.first_seen.get(&number) {
                    self.list.duplicates.push(DuplicateRow {
                        line,
                        number: number.as_str().to_owned(),
                        first_line: *first_line,
                    });
                } else {
                    self.first_seen.insert(number.clone(), line);
                    let contact_name = contact_name.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
                    self.list.entries.push(RecipientEntry { number, contact_name });
                }
            }
            Err(e) => self.bad.push(BadRow { line, value: value.to_owned(), reason: e.0.to_owned() }),
        }
    }

    /// Records a row that could not be read at all.
    pub(crate) fn refuse(&mut self, line: u32, value: &str, reason: impl Into<String>) {
        self.bad.push(BadRow { line, value: value.trim().to_owned(), reason: reason.into() });
    }

    /// The list, or why it is refused (bad rows first, then emptiness, then size).
    pub(crate) fn finish(self) -> Result<RecipientList, RecipientListError> {
        if !self.bad.is_empty() {
            return Err(RecipientListError::BadRows(self.bad));
        }
        if self.list.entries.is_empty() {
            return Err(RecipientListError::Empty);
        }
        if self.list.entries.len() > MAX_CAMPAIGN_RECIPIENTS {
            return Err(RecipientListError::TooMany { count: self.list.entries.len() });
        }
        Ok(self.list)
    }
}

fn line_of(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The byte offsets where each physical line starts (`\n`, `\r\n` or a lone `\r` ends a line,
/// as for the CSV reader).
fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for (i, b) in bytes.iter().enumerate() {
        let ends = *b == b'\n' || (*b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
        if ends {
            starts.push(i + 1);
        }
    }
    starts
}

/// The 1-based physical line holding byte `offset`.
fn line_at(starts: &[usize], offset: u64) -> u32 {
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    line_of(starts.partition_point(|s| *s <= offset) as u64)
}

/// Reads an imported CSV file (see the module documentation for the rules).
pub fn from_csv(file_name: &str, bytes: &[u8]) -> Result<RecipientList, RecipientListError> {
    let chars = file_name.chars().count();
    if chars > MAX_RECIPIENT_FILE_NAME_CHARS {
        return Err(RecipientListError::FileNameTooLong { chars });
    }
    if bytes.len() > MAX_RECIPIENT_FILE_BYTES {
        return Err(RecipientListError::TooLarge { bytes: bytes.len() });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| RecipientListError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let starts = line_starts(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut columns: Option<(usize, Option<usize>)> = None;
    let mut collector = Collector::default();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| line_at(&starts, p.byte())).unwrap_or_default();
                if columns.is_none() {
                    return Err(RecipientListError::NoNumberColumn);
                }
                collector.refuse(line, "", format!("cannot be read as CSV: {e}"));
                break;
            }
        }
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        // The reader's position is just past the record's first terminator byte (its own line
        // count and record offsets skip blank lines): the record's last physical line, less the
        // line breaks inside quoted fields, is the line it starts on.
        let last = line_at(&starts, reader.position().byte().saturating_sub(1));
        let inner: usize = record.iter().map(|f| line_starts(f).len() - 1).sum();
        let line = last.saturating_sub(u32::try_from(inner).unwrap_or(u32::MAX));
        let Some((number_col, name_col)) = columns else {
            let find = |name: &str| record.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
            let number_col = find("number").ok_or(RecipientListError::NoNumberColumn)?;
            columns = Some((number_col, find("name")));
            continue;
        };
        let number = record.get(number_col).unwrap_or_default();
        collector.add(line, number, name_col.and_then(|c| record.get(c)));
    }
    if columns.is_none() {
        return Err(RecipientListError::Empty);
    }
    collector.finish()
}

/// Reads numbers typed in by hand: `(contact name, number)` pairs; a row's "line" is its 1-based
/// position in the list.
pub fn from_typed(numbers: &[(Option<String>, String)]) -> Result<RecipientList, RecipientListError> {
    let mut collector = Collector::default();
    for (i, (name, number)) in numbers.iter().enumerate() {
        collector.add(line_of(i as u64 + 1), number, name.as_deref());
    }
    collector.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<RecipientList, RecipientListError> {
        from_csv("contacts.csv", text.as_bytes())
    }

    fn numbers(list: &RecipientList) -> Vec<&str> {
        list.entries.iter().map(|e| e.number.as_str()).collect()
    }

    #[test]
    fn when_csv_is_plain_should_read_every_number_in_order() {
        let list = csv("Number\n+12025550101\n+12025550102\n").unwrap();
        assert_eq!(numbers(&list), ["+12025550101", "+12025550102"]);
        assert!(list.duplicates.is_empty());
        assert_eq!(list.entries[0].contact_name, None);
    }

    #[test]
    fn when_csv_starts_with_a_bom_should_strip_it() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice(b"Number\r\n+12025550101\r\n");
        let list = from_csv("a.csv", &bytes).unwrap();
        assert_eq!(numbers(&list), ["+12025550101"]);
    }

    #[test]
    fn when_csv_uses_crlf_should_read_numbers_and_lines() {
        let err = csv("Number\r\n+12025550101\r\nbad\r\n").unwrap_err();
        assert_eq!(err.bad_rows(), [BadRow { line: 3, value: "bad".into(), reason: err.bad_rows()[0].reason.clone() }]);
        let list = csv("Number\r\n+12025550101\r\n+12025550102").unwrap();
        assert_eq!(numbers(&list), ["+12025550101", "+12025550102"]);
    }

    #[test]
    fn when_fields_are_quoted_should_unquote_them() {
        let list =
            csv("\"Name\",\"Number\"\n\"Doe, Jane\",\"+12025550101\"\n\"Line\nbreak\",\" +12025550102 \"\n").unwrap();
        assert_eq!(numbers(&list), ["+12025550101", "+12025550102"]);
        assert_eq!(list.entries[0].contact_name.as_deref(), Some("Doe, Jane"));
        assert_eq!(list.entries[1].contact_name.as_deref(), Some("Line\nbreak"));
        let err = csv("Name,Number\n\"Multi\nline\r\nname\",+12025550101\n\n\"X\",\"bad\"\n").unwrap_err();
        assert_eq!(err.bad_rows().iter().map(|r| r.line).collect::<Vec<_>>(), [6]);
    }

    #[test]
    fn when_header_is_lower_case_or_padded_should_find_the_column() {
        let list = csv("id, number \n1,+12025550101\n").unwrap();
        assert_eq!(numbers(&list), ["+12025550101"]);
    }

    #[test]
    fn when_name_column_is_given_should_fill_contact_names() {
        let list = csv("NAME,Number\nAlice,+12025550101\n,+12025550102\n").unwrap();
        assert_eq!(list.entries[0].contact_name.as_deref(), Some("Alice"));
        assert_eq!(list.entries[1].contact_name, None);
    }

    #[test]
    fn when_numbers_are_invalid_should_report_every_row_with_its_physical_line() {
        let text = "Number\n+12025550101\n12025550102\n\n\n+1 202 555 0103\n+12025550104\n\n+0123\n,\n";
        let err = csv(text).unwrap_err();
        let lines: Vec<(u32, &str)> = err.bad_rows().iter().map(|r| (r.line, r.value.as_str())).collect();
        assert_eq!(lines, [(3, "12025550102"), (6, "+1 202 555 0103"), (9, "+0123")]);
        assert_eq!(err.field(), "recipients");
        assert!(err.message().contains("line 3: '12025550102'"), "{}", err.message());
    }

    #[test]
    fn when_a_row_has_a_name_but_no_number_should_refuse_it() {
        let err = csv("Name,Number\nAlice,+12025550101\nBob,\nCarol\n").unwrap_err();
        let lines: Vec<u32> = err.bad_rows().iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4]);
    }

    #[test]
    fn when_numbers_repeat_should_keep_the_first_and_report_the_others() {
        let list = csv("Name,Number\nA,+12025550101\nB,+12025550102\nC, +12025550101\nD,+12025550101\n").unwrap();
        assert_eq!(numbers(&list), ["+12025550101", "+12025550102"]);
        assert_eq!(list.entries[0].contact_name.as_deref(), Some("A"));
        assert_eq!(
            list.duplicates,
            [
                DuplicateRow { line: 4, number: "+12025550101".into(), first_line: 2 },
                DuplicateRow { line: 5, number: "+12025550101".into(), first_line: 2 },
            ]
        );
    }

    #[test]
    fn when_number_column_is_missing_should_refuse_the_file() {
        assert_eq!(csv("Phone\n+12025550101\n"), Err(RecipientListError::NoNumberColumn));
        assert_eq!(csv("Numbers\n+12025550101\n").unwrap_err().field(), "file");
    }

    #[test]
    fn when_file_has_no_numbers_should_be_empty() {
        assert_eq!(csv(""), Err(RecipientListError::Empty));
        assert_eq!(csv("Number\n\n\n"), Err(RecipientListError::Empty));
        assert_eq!(from_typed(&[]), Err(RecipientListError::Empty));
    }

    #[test]
    fn when_file_is_not_utf8_should_refuse_it() {
        let bytes = b"Name,Number\nJos\xe9,+12025550101\n";
        assert_eq!(from_csv("a.csv", bytes), Err(RecipientListError::NotUtf8));
    }

    #[test]
    fn when_there_are_more_than_1000_distinct_numbers_should_refuse_the_list() {
        let mut text = String::from("Number\n");
        for i in 0..1001 {
            text.push_str(&format!("+1202555{i:04}\n"));
        }
        assert_eq!(csv(&text), Err(RecipientListError::TooMany { count: 1001 }));
        let exactly: String = text.lines().take(1001).map(|l| format!("{l}\n")).collect();
        assert_eq!(csv(&exactly).unwrap().entries.len(), 1000);
    }

    #[test]
    fn when_1000_numbers_come_with_duplicates_should_count_distinct_ones() {
        let mut text = String::from("Number\n");
        for i in 0..1000 {
            text.push_str(&format!("+1202555{i:04}\n+1202555{i:04}\n"));
        }
        let list = csv(&text).unwrap();
        assert_eq!((list.entries.len(), list.duplicates.len()), (1000, 1000));
    }

    #[test]
    fn when_file_name_or_size_exceed_the_limits_should_refuse_them() {
        let name = "a".repeat(MAX_RECIPIENT_FILE_NAME_CHARS);
        assert!(from_csv(&name, b"Number\n+12025550101\n").is_ok());
        let long = "é".repeat(MAX_RECIPIENT_FILE_NAME_CHARS + 1);
        assert_eq!(
            from_csv(&long, b"Number\n+12025550101\n"),
            Err(RecipientListError::FileNameTooLong { chars: MAX_RECIPIENT_FILE_NAME_CHARS + 1 })
        );
        let big = vec![b'\n'; MAX_RECIPIENT_FILE_BYTES + 1];
        let err = from_csv("a.csv", &big).unwrap_err();
        assert_eq!(err, RecipientListError::TooLarge { bytes: MAX_RECIPIENT_FILE_BYTES + 1 });
        assert_eq!((err.field(), err.reason()), ("file", "range"));
    }

    #[test]
    fn when_numbers_are_typed_should_apply_the_same_rules_by_position() {
        let typed = vec![
            (Some("Alice".to_owned()), " +12025550101".to_owned()),
            (None, "+12025550101".to_owned()),
            (None, "+12025550102".to_owned()),
        ];
        let list = from_typed(&typed).unwrap();
        assert_eq!(numbers(&list), ["+12025550101", "+12025550102"]);
        assert_eq!(list.duplicates, [DuplicateRow { line: 2, number: "+12025550101".into(), first_line: 1 }]);
        let err = from_typed(&[(None, "+12025550101".into()), (None, "0044 20".into())]).unwrap_err();
        assert_eq!(err.bad_rows().iter().map(|r| r.line).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn when_converted_to_an_api_error_should_list_each_bad_row() {
        let err = from_typed(&[(None, "x".into()), (None, "y".into())]).unwrap_err();
        let api = err.to_api_error(Some("numbers"));
        assert_eq!(api.code.code(), 40002);
        let fields: Vec<&str> = api.invalid_params.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["numbers[line 1]", "numbers[line 2]"]);
        let api = RecipientListError::Empty.to_api_error(None);
        assert_eq!(api.invalid_params[0].field, "recipients");
    }
}
