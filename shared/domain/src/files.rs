//! Files uploaded for messaging (`message/batchupload`, Yeastar §3.6.4): media an agent or a
//! message campaign sends later. A file is a [`StoredFile`] record plus its bytes; both are kept
//! for [`FILE_RETENTION`] (72 hours, decisions.md "Data") and then gone.
//!
//! This module holds the rules of an upload: the client's file name cleaned of any path
//! (`/D:/projects/files/demo.wav` → `demo.wav`), the content type (the part's own, else guessed
//! from the extension), and the [`MAX_UPLOAD_TOTAL_BYTES`] limit of one request. An upload is
//! checked whole before anything is stored ([`check_upload`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::InvalidId;
use crate::ports::Random;
use crate::time::Timestamp;

/// How long an uploaded file (record and bytes) is kept.
pub const FILE_RETENTION: Duration = Duration::from_secs(72 * 3600);

/// The most one upload request may carry, all files together (100 MiB).
pub const MAX_UPLOAD_TOTAL_BYTES: u64 = 100 * 1024 * 1024;

/// The longest file name, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// The form field the files come in.
pub const UPLOAD_FIELD: &str = "files";

/// The content type of a file whose type is unknown.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A file's id: 32 lowercase hex characters (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileId(String);

impl FileId {
    /// Parses an id given by a client.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId { what: "file id", reason: "must be 32 lowercase hex characters" })
        }
    }

    /// From 16 random bytes.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(hex::encode(bytes))
    }

    /// A new id from `random`.
    pub fn generate<R: Random>(random: &R) -> Self {
        Self::from_random_bytes(random.bytes())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of its bytes in object storage.
    pub fn object_key(&self) -> String {
        format!("files/{}", self.0)
    }
}

impl TryFrom<String> for FileId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<FileId> for String {
    fn from(id: FileId) -> Self {
        id.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An uploaded file's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Its id.
    pub id: FileId,
    /// Its name, without any client path ([`clean_file_name`]).
    pub name: String,
    /// Its content type, e.g. `image/jpeg`.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was uploaded.
    pub uploaded_at: Timestamp,
    /// When it is gone: `uploaded_at` + [`FILE_RETENTION`].
    pub expires_at: Timestamp,
}

impl StoredFile {
    /// A file uploaded `now`, kept for [`FILE_RETENTION`].
    pub fn new(id: FileId, name: String, content_type: String, size: u64, now: Timestamp) -> Self {
        Self { id, name, content_type, size, uploaded_at: now, expires_at: now.plus(FILE_RETENTION) }
    }

    /// Whether it is gone at `now` (stores delete expired files lazily: readers check this).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// Why a file name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    /// Nothing is left once the path is removed.
    #[error("has no file name")]
    Empty,
    /// More than [`MAX_FILE_NAME_CHARS`] characters.
    #[error("the file name is longer than {MAX_FILE_NAME_CHARS} characters")]
    TooLong,
    /// Control characters, or the names `.` and `..`.
    #[error("the file name has control characters or is not a name")]
    Invalid,
}

/// The file name without the client's path: the part after the last `/` or `\`, surrounding
/// white space removed; 1 to [`MAX_FILE_NAME_CHARS`] characters, no control characters.
pub fn clean_file_name(raw: &str) -> Result<String, FileNameError> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if base.is_empty() {
        return Err(FileNameError::Empty);
    }
    if base.chars().any(char::is_control) || base == "." || base == ".." {
        return Err(FileNameError::Invalid);
    }
    if base.chars().count() > MAX_FILE_NAME_CHARS {
        return Err(FileNameError::TooLong);
    }
    Ok(base.to_owned())
}

/// The content type of a file: the part's own `Content-Type` when it names a specific type (not
/// `application/octet-stream`), else a guess from the name's extension, else
/// `application/octet-stream`.
pub fn content_type(declared: Option<&str>, name: &str) -> String {
    let declared = declared.map(str::trim).filter(|t| is_media_type(t));
    match declared {
        Some(t) if !t.to_ascii_lowercase().starts_with(OCTET_STREAM) => t.to_owned(),
        _ => mime_guess::from_path(name).first_raw().unwrap_or(OCTET_STREAM).to_owned(),
    }
}

/// `type/subtype` (with optional parameters), printable ASCII, at most 255 characters.
fn is_media_type(t: &str) -> bool {
    let essence = t.split(';').next().unwrap_or_default().trim();
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    t.len() <= 255
        && t.bytes().all(|b| (0x20..0x7f).contains(&b))
        && essence.split_once('/').is_some_and(|(ty, sub)| token(ty) && token(sub))
}

/// One part of an upload form, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadPart {
    /// The form field (`files` for a file).
    pub field: String,
    /// The `filename` of its `Content-Disposition`, if any.
    pub file_name: Option<String>,
    /// Its `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A file of an accepted upload, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedFile {
    /// Cleaned name.
    pub name: String,
    /// Content type.
    pub content_type: String,
    /// Bytes.
    pub bytes: Vec<u8>,
}

/// Why an upload was refused (field `files`; nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    /// No `files` part.
    #[error("is required: send one or more files as multipart/form-data parts named files")]
    NoFiles,
    /// The request is not multipart/form-data or cannot be read as such.
    #[error("the request must be multipart/form-data with parts named files: {0}")]
    NotMultipart(String),
    /// A `files` part (1-based position among them) has an unusable file name.
    #[error("file {position}: {reason}")]
    BadName {
        /// Which file.
        position: usize,
        /// What is wrong.
        reason: FileNameError,
    },
    /// Together the files are larger than [`MAX_UPLOAD_TOTAL_BYTES`].
    #[error("the files together are larger than {} MB", MAX_UPLOAD_TOTAL_BYTES / (1024 * 1024))]
    TooLarge,
}

impl UploadRefusal {
    /// The validation type reported with errcode 40002.
    pub fn validation_type(&self) -> &'static str {
        match self {
            UploadRefusal::NoFiles => "required",
            UploadRefusal::NotMultipart(_) | UploadRefusal::BadName { .. } => "format",
            UploadRefusal::TooLarge => "size",
        }
    }
}

/// Checks a whole upload: at least one `files` part, each with a usable file name, all together at
/// most [`MAX_UPLOAD_TOTAL_BYTES`]. Parts of other fields are ignored. On success, the files in
/// the order sent.
pub fn check_upload(parts: Vec<UploadPart>) -> Result<Vec<AcceptedFile>, UploadRefusal> {
    check_upload_within(parts, MAX_UPLOAD_TOTAL_BYTES)
}

fn check_upload_within(parts: Vec<UploadPart>, max_total: u64) -> Result<Vec<AcceptedFile>, UploadRefusal> {
    let mut total: u64 = 0;
    let mut accepted = Vec::new();
    for part in parts.into_iter().filter(|p| p.field == UPLOAD_FIELD) {
        let position = accepted.len() + 1;
        let raw = part.file_name.as_deref().unwrap_or_default();
        let name = clean_file_name(raw).map_err(|reason| UploadRefusal::BadName { position, reason })?;
        total = total.saturating_add(u64::try_from(part.bytes.len()).unwrap_or(u64::MAX));
        if total > max_total {
            return Err(UploadRefusal::TooLarge);
        }
        let content_type = content_type(part.content_type.as_deref(), &name);
        accepted.push(AcceptedFile { name, content_type, bytes: part.bytes });
    }
    if accepted.is_empty() {
        return Err(UploadRefusal::NoFiles);
    }
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);
    impl Random for Fixed {
        fn bytes<const N: usize>(&self) -> [u8; N] {
            [self.0; N]
        }
    }

    fn part(name: Option<&str>, ctype: Option<&str>, len: usize) -> UploadPart {
        UploadPart {
            field: "files".into(),
            file_name: name.map(str::to_owned),
            content_type: ctype.map(str::to_owned),
            bytes: vec![7; len],
        }
    }

    #[test]
    fn a_file_id_is_32_lowercase_hex_from_the_random_source() {
        let id = FileId::generate(&Fixed(0xab));
        assert_eq!(id.as_str(), "ab".repeat(16));
        assert_eq!(FileId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.object_key(), format!("files/{}", "ab".repeat(16)));
        for bad in ["", "AB".repeat(16).as_str(), &"a".repeat(31), &"a".repeat(33), &"g".repeat(32)] {
            assert!(FileId::parse(bad).is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<FileId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<FileId>("\"xyz\"").is_err());
    }

    #[test]
    fn a_client_path_is_removed_from_the_file_name() {
        assert_eq!(clean_file_name("/D:/projects/files/demo.wav").unwrap(), "demo.wav");
        assert_eq!(clean_file_name(r"C:\Users\me\photo 1.jpg").unwrap(), "photo 1.jpg");
        assert_eq!(clean_file_name("  report.pdf ").unwrap(), "report.pdf");
        assert_eq!(clean_file_name("ünïcødé.txt").unwrap(), "ünïcødé.txt");
        assert_eq!(clean_file_name(""), Err(FileNameError::Empty));
        assert_eq!(clean_file_name("/D:/projects/"), Err(FileNameError::Empty));
        assert_eq!(clean_file_name("a\u{0}b"), Err(FileNameError::Invalid));
        assert_eq!(clean_file_name("line\nbreak"), Err(FileNameError::Invalid));
        assert_eq!(clean_file_name("dir/.."), Err(FileNameError::Invalid));
        assert_eq!(clean_file_name(&"é".repeat(255)).unwrap().chars().count(), 255);
        assert_eq!(clean_file_name(&"é".repeat(256)), Err(FileNameError::TooLong));
    }

    #[test]
    fn the_content_type_is_the_parts_own_or_guessed_from_the_extension() {
        assert_eq!(content_type(Some("audio/wav"), "demo.wav"), "audio/wav");
        assert_eq!(content_type(Some("image/jpeg"), "no-extension"), "image/jpeg");
        assert_eq!(content_type(None, "demo.jpg"), "image/jpeg");
        assert_eq!(content_type(Some("application/octet-stream"), "demo.png"), "image/png");
        assert_eq!(content_type(Some("not a type"), "demo.pdf"), "application/pdf");
        assert_eq!(content_type(None, "mystery"), OCTET_STREAM);
        assert_eq!(content_type(Some("text/plain; charset=utf-8"), "a.txt"), "text/plain; charset=utf-8");
    }

    #[test]
    fn an_upload_is_checked_whole() {
        let ok = check_upload(vec![
            part(Some("/D:/projects/files/demo.wav"), Some("audio/wav"), 10),
            UploadPart { field: "other".into(), ..UploadPart::default() },
            part(Some("demo.jpg"), None, 5),
        ])
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(
            (ok[0].name.as_str(), ok[0].content_type.as_str(), ok[0].bytes.len()),
            ("demo.wav", "audio/wav", 10)
        );
        assert_eq!((ok[1].name.as_str(), ok[1].content_type.as_str()), ("demo.jpg", "image/jpeg"));

        assert_eq!(check_upload(vec![]), Err(UploadRefusal::NoFiles));
        let other = UploadPart { field: "file".into(), file_name: Some("a.txt".into()), ..UploadPart::default() };
        assert_eq!(check_upload(vec![other]), Err(UploadRefusal::NoFiles));
        assert_eq!(
            check_upload(vec![part(Some("a.txt"), None, 1), part(None, None, 1)]),
            Err(UploadRefusal::BadName { position: 2, reason: FileNameError::Empty })
        );
    }

    #[test]
    fn the_total_may_reach_the_limit_but_not_pass_it() {
        let two = |a, b| vec![part(Some("a"), None, a), part(Some("b"), None, b)];
        assert!(check_upload_within(two(50, 50), 100).is_ok());
        assert_eq!(check_upload_within(two(50, 51), 100), Err(UploadRefusal::TooLarge));
        assert_eq!(check_upload_within(two(101, 0), 100), Err(UploadRefusal::TooLarge));
        assert_eq!(MAX_UPLOAD_TOTAL_BYTES, 104_857_600);
        assert_eq!(UploadRefusal::TooLarge.validation_type(), "size");
        assert_eq!(UploadRefusal::TooLarge.to_string(), "the files together are larger than 100 MB");
    }

    #[test]
    fn a_file_is_kept_72_hours() {
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        let file = StoredFile::new(FileId::generate(&Fixed(1)), "a.txt".into(), "text/plain".into(), 3, now);
        assert_eq!(file.expires_at, Timestamp::from_unix_seconds(1_700_000_000 + 72 * 3600));
        assert!(!file.is_expired(now.plus(FILE_RETENTION - Duration::from_secs(1))));
        assert!(file.is_expired(now.plus(FILE_RETENTION)));
    }
}
