//! Reading NDJSON files in chunks of whole lines, so that a file of any size
//! is parsed on every core with bounded memory.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Bytes read per chunk; big enough to keep both cores busy, small enough
/// that memory stays flat.
const CHUNK_BYTES: usize = 2 << 20;

/// A source of NDJSON: a file, or standard input for `-`.
pub struct Source {
    pub name: String,
    reader: Box<dyn Read + Send>,
    /// The size in bytes, when known (for progress bars).
    pub size: Option<u64>,
    /// Bytes read but not yet handed over (a partial last line).
    pending: Vec<u8>,
    next_line: u64,
    bytes_read: u64,
}

impl Source {
    pub fn open(path: &Path) -> Result<Source> {
        if path == Path::new("-") {
            return Ok(Source::new("standard input".into(), Box::new(io::stdin()), None));
        }
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file.metadata().ok().map(|metadata| metadata.len());
        Ok(Source::new(path.display().to_string(), Box::new(file), size))
    }

    fn new(name: String, reader: Box<dyn Read + Send>, size: Option<u64>) -> Source {
        Source { name, reader, size, pending: Vec::new(), next_line: 1, bytes_read: 0 }
    }

    /// The next chunk of whole lines (up to and including a last `\n`, or
    /// the rest of the input at its end) and the 1-based number of its first
    /// line; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<(Vec<u8>, u64)>> {
        loop {
            let start = self.pending.len();
            // Read straight into spare capacity: no zero-filling.
            let read = (&mut self.reader)
                .take(CHUNK_BYTES as u64)
                .read_to_end(&mut self.pending)
                .with_context(|| format!("cannot read {}", self.name))?;
            debug_assert_eq!(self.pending.len(), start + read);
            self.bytes_read += read as u64;
            let cut = if read == 0 {
                self.pending.len()
            } else {
                match memchr::memrchr(b'\n', &self.pending) {
                    Some(position) => position + 1,
                    // A line longer than a chunk: read on.
                    None => continue,
                }
            };
            if cut == 0 {
                return Ok(None);
            }
            let rest = self.pending.split_off(cut);
            let chunk = std::mem::replace(&mut self.pending, rest);
            let first_line = self.next_line;
            self.next_line += qualify_engine::log::count_lines(&chunk);
            return Ok(Some((chunk, first_line)));
        }
    }

    /// Calls `visit` with runs of whole lines (without their `\n`), the
    /// 1-based number of the first, and the bytes read so far.
    pub fn for_each_chunk(mut self, mut visit: impl FnMut(&[&[u8]], u64, u64) -> Result<()>) -> Result<()> {
        while let Some((chunk, first_line)) = self.next_chunk()? {
            visit(&qualify_engine::log::split_lines(&chunk), first_line, self.bytes_read)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_numbers_across_chunks() {
        let text: String = (1..=50_000).map(|n| format!("line {n}\n")).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.ndjson");
        std::fs::write(&path, text + "last without newline").unwrap();
        let mut seen = Vec::new();
        Source::open(&path)
            .unwrap()
            .for_each_chunk(|lines, first, _| {
                for (offset, line) in lines.iter().enumerate() {
                    seen.push((first + offset as u64, String::from_utf8(line.to_vec()).unwrap()));
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(seen.len(), 50_001);
        assert_eq!(seen[41_999], (42_000, "line 42000".to_owned()));
        assert_eq!(seen[50_000], (50_001, "last without newline".to_owned()));
    }
}
