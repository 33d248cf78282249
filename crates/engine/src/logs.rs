//! Container logs in docker's json-file format: one JSON object a line,
//! `{"log":"hi\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use berth_runtime::attach::{Sink, Stream};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A line longer than this is written as several entries, as docker does.
const MAX_LINE: usize = 16 * 1024;

/// One log entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// The text, with its newline when the line was complete.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

impl Entry {
    /// The entry's time.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Writes a task's output to a json-file log.
#[derive(Debug)]
pub struct JsonLog {
    file: File,
    partial: [Vec<u8>; 2],
    /// Entries of the chunk being handled, written with one call.
    out: Vec<u8>,
}

impl JsonLog {
    /// Opens (appending) the log at `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file,
            partial: [Vec::new(), Vec::new()],
            out: Vec::new(),
        })
    }

    fn emit(&mut self, stream: Stream, line: &[u8]) {
        let e = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: match stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            }
            .into(),
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        if serde_json::to_writer(&mut self.out, &e).is_ok() {
            self.out.push(b'\n');
        }
    }

    fn write_out(&mut self) {
        if !self.out.is_empty() {
            let _ = self.file.write_all(&self.out);
            self.out.clear();
        }
    }

    /// Writes out what is left of unfinished lines.
    pub fn flush(&mut self) {
        for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            let rest = std::mem::take(&mut self.partial[i]);
            if !rest.is_empty() {
                self.emit(stream, &rest);
            }
        }
        self.write_out();
    }
}

impl Sink for JsonLog {
    fn write(&mut self, stream: Stream, data: &[u8]) {
        let i = usize::from(stream == Stream::Stderr);
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            self.emit(stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.emit(stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[i] = buf;
        self.write_out();
    }
}

impl Drop for JsonLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Sends output to two sinks (the terminal and the log of an attached run).
#[derive(Debug)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    fn write(&mut self, stream: Stream, data: &[u8]) {
        self.0.write(stream, data);
        self.1.write(stream, data);
    }
}

/// The byte offset in `f` (of length `len`) where the last `n` lines start,
/// found by reading backwards, so a large log is not read whole.
pub fn tail_offset(f: &mut File, n: usize) -> std::io::Result<u64> {
    let len = f.metadata()?.len();
    if n == 0 {
        return Ok(len);
    }
    let mut pos = len;
    let mut newlines = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    // The file ends with a newline; that one does not start a line.
    let mut skip_last = true;
    while pos > 0 {
        let step = (buf.len() as u64).min(pos);
        pos -= step;
        f.seek(SeekFrom::Start(pos))?;
        let chunk = &mut buf[..step as usize];
        f.read_exact(chunk)?;
        for i in (0..chunk.len()).rev() {
            if chunk[i] == b'\n' {
                if skip_last && pos + i as u64 == len - 1 {
                    skip_last = false;
                    continue;
                }
                newlines += 1;
                if newlines == n {
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
    }
    Ok(0)
}

/// Reads entries from `f` starting at `offset`, calling `each` for every
/// complete line; returns the offset after the last complete line.
pub fn read_from(f: &mut File, offset: u64, each: &mut dyn FnMut(Entry)) -> std::io::Result<u64> {
    f.seek(SeekFrom::Start(offset))?;
    let mut r = BufReader::new(f);
    let mut pos = offset;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Ok(pos);
        }
        pos += n as u64;
        if let Ok(e) = serde_json::from_slice::<Entry>(&line) {
            each(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partials_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x-json.log");
        {
            let mut l = JsonLog::open(&p).unwrap();
            l.write(Stream::Stdout, b"one\ntw");
            l.write(Stream::Stderr, b"err\n");
            l.write(Stream::Stdout, b"o\nthree");
        }
        let mut f = File::open(&p).unwrap();
        let mut all = Vec::new();
        read_from(&mut f, 0, &mut |e| all.push(e)).unwrap();
        let logs: Vec<&str> = all.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(logs, ["one\n", "err\n", "two\n", "three"]);
        assert_eq!(all[1].stream, "stderr");
        assert!(all[0].time().is_some());
        let off = tail_offset(&mut f, 2).unwrap();
        let mut last = Vec::new();
        read_from(&mut f, off, &mut |e| last.push(e.log)).unwrap();
        assert_eq!(last, ["two\n", "three"]);
        assert_eq!(tail_offset(&mut f, 100).unwrap(), 0);
        assert_eq!(tail_offset(&mut f, 0).unwrap(), f.metadata().unwrap().len());
    }

    #[test]
    fn long_lines_are_split() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x-json.log");
        {
            let mut l = JsonLog::open(&p).unwrap();
            l.write(Stream::Stdout, &vec![b'a'; MAX_LINE + 10]);
        }
        let mut f = File::open(&p).unwrap();
        let mut n = Vec::new();
        read_from(&mut f, 0, &mut |e| n.push(e.log.len())).unwrap();
        assert_eq!(n, [MAX_LINE, 10]);
    }
}
