//! The chat-log export archive: CSV rows (`csv` crate) written into a zip (`zip` crate, stream
//! mode: no `Seek`, sizes in data descriptors, zip64 so no file size limit) whose bytes go to a
//! [`PartSink`] in parts of [`PART_SIZE`] as they are produced. Memory is bounded by one part
//! plus what one row makes the compressor emit; nothing else of the export is held.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use domain::ports::{ExportArchive, StoreError};
use zip::ZipWriter;
use zip::write::{SimpleFileOptions, StreamWriter};

/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// The part size used.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Where finished parts go (an S3 multipart upload; a recorder in tests).
pub trait PartSink {
    /// Uploads part `number` (from 1).
    async fn upload_part(&mut self, number: i32, bytes: Vec<u8>) -> Result<(), StoreError>;
    /// Completes the object from the uploaded parts.
    async fn complete(&mut self) -> Result<(), StoreError>;
    /// Abandons the upload.
    async fn abort(&mut self);
}

/// The zip's output: appended by the zip writer, drained part by part.
#[derive(Debug, Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::permanent("write export archive", e)
}

/// A zip of CSV files streamed to a [`PartSink`].
pub struct ZipCsvArchive<P> {
    zip: Option<ZipWriter<StreamWriter<SharedBuffer>>>,
    buffer: SharedBuffer,
    sink: P,
    part_size: usize,
    next_part: i32,
    bytes: u64,
    peak_buffered: usize,
}

impl<P: PartSink> ZipCsvArchive<P> {
    /// An archive uploading parts of [`PART_SIZE`].
    pub fn new(sink: P) -> Self {
        Self::with_part_size(sink, PART_SIZE)
    }

    /// An archive uploading parts of `part_size` (tests use small ones; S3 needs at least
    /// [`MIN_PART_SIZE`] for all parts but the last).
    pub fn with_part_size(sink: P, part_size: usize) -> Self {
        let buffer = SharedBuffer::default();
        Self {
            zip: Some(ZipWriter::new_stream(buffer.clone())),
            buffer,
            sink,
            part_size: part_size.max(1),
            next_part: 1,
            bytes: 0,
            peak_buffered: 0,
        }
    }

    /// The most bytes held at once.
    pub fn peak_buffered(&self) -> usize {
        self.peak_buffered
    }

    /// The sink (tests inspect it).
    pub fn sink(&self) -> &P {
        &self.sink
    }

    fn zip(&mut self) -> Result<&mut ZipWriter<StreamWriter<SharedBuffer>>, StoreError> {
        self.zip.as_mut().ok_or_else(|| write_error("the archive is finished or aborted"))
    }

    async fn upload(&mut self, part: Vec<u8>) -> Result<(), StoreError> {
        self.bytes += part.len() as u64;
        let number = self.next_part;
        self.next_part += 1;
        self.sink.upload_part(number, part).await
    }

    /// Uploads every full part in the buffer.
    async fn flush_full_parts(&mut self) -> Result<(), StoreError> {
        loop {
            let part = {
                let mut b = self.buffer.lock();
                self.peak_buffered = self.peak_buffered.max(b.len());
                if b.len() < self.part_size {
                    return Ok(());
                }
                b.drain(..self.part_size).collect::<Vec<u8>>()
            };
            self.upload(part).await?;
        }
    }
}

fn csv_record(fields: &[String]) -> Result<Vec<u8>, StoreError> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(fields).map_err(write_error)?;
    w.into_inner().map_err(|e| write_error(e.to_string()))
}

impl<P: PartSink> ExportArchive for ZipCsvArchive<P> {
    async fn start_entry(&mut self, name: &str) -> Result<(), StoreError> {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true)
            .unix_permissions(0o644);
        self.zip()?.start_file(name, options).map_err(write_error)?;
        self.flush_full_parts().await
    }

    async fn write_row(&mut self, fields: &[String]) -> Result<(), StoreError> {
        let record = csv_record(fields)?;
        self.zip()?.write_all(&record).map_err(write_error)?;
        self.flush_full_parts().await
    }

    async fn finish(&mut self) -> Result<u64, StoreError> {
        let zip = self.zip.take().ok_or_else(|| write_error("the archive is finished or aborted"))?;
        zip.finish().map_err(write_error)?;
        self.flush_full_parts().await?;
        let rest = std::mem::take(&mut *self.buffer.lock());
        if !rest.is_empty() || self.next_part == 1 {
            self.upload(rest).await?;
        }
        self.sink.complete().await?;
        Ok(self.bytes)
    }

    async fn abort(&mut self) {
        self.zip = None;
        self.buffer.lock().clear();
        self.sink.abort().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Records parts and remembers the largest one.
    #[derive(Default)]
    struct Recorder {
        parts: Vec<(i32, Vec<u8>)>,
        completed: bool,
        aborted: bool,
    }

    impl PartSink for Recorder {
        async fn upload_part(&mut self, number: i32, bytes: Vec<u8>) -> Result<(), StoreError> {
            self.parts.push((number, bytes));
            Ok(())
        }

        async fn complete(&mut self) -> Result<(), StoreError> {
            self.completed = true;
            Ok(())
        }

        async fn abort(&mut self) {
            self.aborted = true;
        }
    }

    fn row(i: usize) -> Vec<String> {
        // incompressible-ish content so the zip grows with the rows
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let noise: String = (0..60)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        vec![i.to_string(), format!("héllo, \"{noise}\""), "line\nbreak".into()]
    }

    #[tokio::test]
    async fn a_large_archive_is_uploaded_in_full_parts_with_bounded_buffering() {
        let part_size = 16 * 1024;
        let mut archive = ZipCsvArchive::with_part_size(Recorder::default(), part_size);
        archive.start_entry("Session_Record.csv").await.unwrap();
        archive.write_row(&["Session ID".into(), "Text".into(), "More".into()]).await.unwrap();
        for i in 0..40_000 {
            archive.write_row(&row(i)).await.unwrap();
        }
        archive.start_entry("Chat_Data_Record.csv").await.unwrap();
        archive.write_row(&["a".into(), "b".into()]).await.unwrap();
        let bytes = archive.finish().await.unwrap();

        let peak = archive.peak_buffered();
        let sink = archive.sink();
        assert!(sink.completed && !sink.aborted);
        assert!(sink.parts.len() > 10, "many parts: {}", sink.parts.len());
        let (last, full) = sink.parts.split_last().unwrap();
        assert!(full.iter().all(|(_, p)| p.len() == part_size), "every part but the last is full");
        assert!(last.1.len() <= part_size);
        let numbers: Vec<i32> = sink.parts.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, (1..=sink.parts.len() as i32).collect::<Vec<_>>());
        // the buffer never held much more than one part, though the archive is far larger
        assert!(peak < part_size + 64 * 1024, "peak {peak}");
        assert!(bytes as usize > 10 * part_size);

        let whole: Vec<u8> = sink.parts.iter().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(whole.len() as u64, bytes);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(whole)).unwrap();
        let mut first = String::new();
        zip.by_name("Session_Record.csv").unwrap().read_to_string(&mut first).unwrap();
        let mut reader = csv::Reader::from_reader(first.as_bytes());
        assert_eq!(reader.headers().unwrap(), vec!["Session ID", "Text", "More"]);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 40_000);
        assert_eq!(records[123], csv::StringRecord::from(row(123)));
        let mut second = String::new();
        zip.by_name("Chat_Data_Record.csv").unwrap().read_to_string(&mut second).unwrap();
        assert_eq!(second, "a,b\r\n");
    }

    #[tokio::test]
    async fn a_small_archive_is_one_part_and_an_aborted_one_is_abandoned() {
        let mut archive = ZipCsvArchive::new(Recorder::default());
        archive.start_entry("Session_Record.csv").await.unwrap();
        archive.write_row(&["Session ID".into()]).await.unwrap();
        archive.finish().await.unwrap();
        assert_eq!(archive.sink().parts.len(), 1);

        let mut archive = ZipCsvArchive::new(Recorder::default());
        archive.start_entry("Session_Record.csv").await.unwrap();
        archive.abort().await;
        assert!(archive.sink().aborted && archive.sink().parts.is_empty());
        assert!(archive.write_row(&["x".into()]).await.is_err());
    }
}
