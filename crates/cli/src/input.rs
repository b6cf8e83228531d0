//! Reading NDJSON files in chunks of whole lines, so that a file of any size
//! is parsed on every core with bounded memory.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Bytes read per chunk; big enough to keep both cores busy, small enough
/// that memory stays flat.
const CHUNK_BYTES: usize = 8 << 20;

/// A source of NDJSON: a file, or standard input for `-`.
pub struct Source {
    pub name: String,
    reader: Box<dyn Read>,
    /// The size in bytes, when known (for progress bars).
    pub size: Option<u64>,
}

impl Source {
    pub fn open(path: &Path) -> Result<Source> {
        if path == Path::new("-") {
            return Ok(Source { name: "standard input".into(), reader: Box::new(io::stdin().lock()), size: None });
        }
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file.metadata().ok().map(|metadata| metadata.len());
        Ok(Source { name: path.display().to_string(), reader: Box::new(file), size })
    }

    /// Calls `visit` with runs of whole lines (without their `\n`) and the
    /// 1-based number of the first, then with the bytes read so far.
    pub fn for_each_chunk(mut self, mut visit: impl FnMut(&[&[u8]], u64, u64) -> Result<()>) -> Result<()> {
        let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 4096);
        let mut next_line = 1u64;
        let mut total_read = 0u64;
        loop {
            let start = buffer.len();
            buffer.resize(start + CHUNK_BYTES, 0);
            let read = read_full(&mut self.reader, &mut buffer[start..]).with_context(|| format!("cannot read {}", self.name))?;
            buffer.truncate(start + read);
            total_read += read as u64;
            let at_end = read == 0;
            // Hand over everything up to the last newline; keep the rest for
            // the next round (or everything, at the end of the input).
            let cut = if at_end {
                buffer.len()
            } else {
                match memchr_last_newline(&buffer) {
                    Some(position) => position + 1,
                    None => continue,
                }
            };
            if cut > 0 {
                let lines: Vec<&[u8]> = split_lines(&buffer[..cut]);
                visit(&lines, next_line, total_read)?;
                next_line += lines.len() as u64;
            }
            buffer.drain(..cut);
            if at_end {
                return Ok(());
            }
        }
    }
}

fn read_full(reader: &mut dyn Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

fn memchr_last_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&byte| byte == b'\n')
}

/// Splits on `\n` (dropping a `\r` before it); a final line without a
/// newline counts, an empty tail after the last newline does not.
fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|&byte| byte == b'\n').collect();
    if bytes.ends_with(b"\n") {
        lines.pop();
    }
    for line in &mut lines {
        if let Some(stripped) = line.strip_suffix(b"\r") {
            *line = stripped;
        }
    }
    lines
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
