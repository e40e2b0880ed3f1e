//! Writes a trace file as it goes: see the module docs of `tracefile` for the layout.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::{CHUNK_MAGIC, End, Header, MAGIC, State, TAG_COUNTERS, TAG_END, TAG_EVENT, TAG_STATE};
use crate::event::{BpfCounters, Event};

/// A chunk is written when its raw records reach this size (or on [`Writer::flush`]).
const CHUNK_BYTES: usize = 1 << 20;
/// zstd level 1: the fastest of the normal levels; events compress well even so.
const ZSTD_LEVEL: i32 = 1;

pub struct Writer {
    file: File,
    buf: Vec<u8>,
    records: u32,
    /// Bytes in the file so far.
    bytes: u64,
    events: u64,
    format_version: u32,
}

impl Writer {
    /// Creates (or truncates) `path`. Nothing is written until [`Writer::header`].
    pub fn create(path: &Path) -> io::Result<Writer> {
        let file = File::create(path)?;
        Ok(Writer {
            file,
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            records: 0,
            bytes: 0,
            events: 0,
            format_version: 0,
        })
    }

    /// Writes the file header. Call once, first. The preamble carries `header.format_version`
    /// (format 2 for a file that will have a state record, else 1).
    pub fn header(&mut self, header: &Header) -> io::Result<()> {
        self.format_version = header.format_version;
        let json = serde_json::to_vec(header).map_err(io::Error::other)?;
        let mut out = Vec::with_capacity(super::PREAMBLE_LEN + json.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&header.format_version.to_le_bytes());
        out.extend_from_slice(
            &u32::try_from(json.len())
                .map_err(io::Error::other)?
                .to_le_bytes(),
        );
        out.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());
        out.extend_from_slice(&json);
        self.file.write_all(&out)?;
        self.bytes += out.len() as u64;
        Ok(())
    }

    /// Appends an event; writes a chunk when enough are buffered.
    pub fn event(&mut self, e: &Event) -> io::Result<()> {
        let n = e.def().args.len();
        let b = &mut self.buf;
        b.push(TAG_EVENT);
        b.extend_from_slice(&e.ts_ns.to_le_bytes());
        b.extend_from_slice(&e.pid.to_le_bytes());
        b.extend_from_slice(&e.tid.to_le_bytes());
        b.extend_from_slice(&e.cpu.to_le_bytes());
        b.extend_from_slice(&e.probe.to_le_bytes());
        b.push(if e.read_error {
            goro_ebpf::EVENT_READ_ERROR
        } else {
            0
        });
        b.push(n as u8);
        for a in &e.args[..n] {
            b.extend_from_slice(&a.to_le_bytes());
        }
        self.records += 1;
        self.events += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends the BPF counters as of `ts_ns`.
    pub fn counters(&mut self, ts_ns: u64, c: &BpfCounters) -> io::Result<()> {
        let b = &mut self.buf;
        b.push(TAG_COUNTERS);
        for v in [ts_ns, c.hits, c.drops, c.spec_misses, c.read_errors] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.records += 1;
        Ok(())
    }

    /// Appends a state record (a flight recording's start: before any event). The header
    /// must have said format 2: a format 1 reader would take the record for damage.
    pub fn state(&mut self, state: &State) -> io::Result<()> {
        if self.format_version < 2 {
            return Err(io::Error::other(
                "a state record needs a format 2 header (a bug in the caller)",
            ));
        }
        let json = serde_json::to_vec(state).map_err(io::Error::other)?;
        let len = u32::try_from(json.len()).map_err(io::Error::other)?;
        self.buf.push(TAG_STATE);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&json);
        self.records += 1;
        Ok(())
    }

    /// Writes the buffered records as one chunk, in one `write`.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.records == 0 {
            return Ok(());
        }
        let stored = zstd::bulk::compress(&self.buf, ZSTD_LEVEL)?;
        let mut out = Vec::with_capacity(super::CHUNK_HEADER_LEN + stored.len());
        out.extend_from_slice(CHUNK_MAGIC);
        for v in [
            self.buf.len() as u32,
            stored.len() as u32,
            crc32fast::hash(&stored),
            self.records,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&stored);
        self.file.write_all(&out)?;
        self.bytes += out.len() as u64;
        self.buf.clear();
        self.records = 0;
        Ok(())
    }

    /// Appends the end record and writes the last chunk.
    pub fn finish(&mut self, end: &End) -> io::Result<()> {
        let json = serde_json::to_vec(end).map_err(io::Error::other)?;
        self.buf.push(TAG_END);
        self.buf
            .extend_from_slice(&(json.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&json);
        self.records += 1;
        self.flush()?;
        self.file.sync_data()
    }

    /// Bytes written to the file so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Events appended so far.
    pub fn events(&self) -> u64 {
        self.events
    }
}
