//! Reads a trace file back, chunk by chunk, stopping at the first incomplete or damaged one.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::{
    CHUNK_HEADER_LEN, CHUNK_MAGIC, CatalogMap, End, FORMAT_VERSION, Header, MAGIC, MAX_CHUNK_LEN,
    OLDEST_FORMAT_VERSION, State, TAG_COUNTERS, TAG_END, TAG_EVENT, TAG_STATE,
};
use crate::error::Error;
use crate::event::{BpfCounters, Event, MAX_ARGS};

/// One record of the file, in file order.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Event(Event),
    /// Cumulative BPF counters as of `ts_ns`.
    Counters {
        ts_ns: u64,
        counters: BpfCounters,
    },
    End(End),
    /// A flight recording's start (boxed: it holds the whole model).
    State(Box<State>),
}

/// Where and why reading stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// File offset of the chunk that could not be read.
    pub offset: u64,
    /// Bytes from there to the end of the file, ignored.
    pub ignored: u64,
    pub why: String,
}

pub struct Reader<R> {
    r: R,
    header: Header,
    map: CatalogMap,
    chunk: Vec<u8>,
    pos: usize,
    offset: u64,
    damage: Option<Damage>,
    done: bool,
    unknown: u64,
    chunks: u64,
}

impl Reader<BufReader<File>> {
    pub fn open(path: &Path) -> Result<Reader<BufReader<File>>, Error> {
        let file = File::open(path).map_err(|e| Error::read(path, e))?;
        let shown = path.display().to_string();
        Reader::new(BufReader::with_capacity(1 << 20, file), &shown)
    }
}

/// Reads as much of `buf` as the stream has; returns how much that was.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header. `shown` names the file in errors.
    pub fn new(mut r: R, shown: &str) -> Result<Reader<R>, Error> {
        let bad = |why: String| Error::TraceFile {
            path: shown.to_owned(),
            why,
        };
        let io_err = |e: io::Error| Error::Read {
            path: shown.to_owned(),
            source: e,
        };
        let mut pre = [0u8; super::PREAMBLE_LEN];
        let n = read_full(&mut r, &mut pre).map_err(io_err)?;
        if n < MAGIC.len() || &pre[..MAGIC.len()] != MAGIC {
            return Err(bad("not a goro trace file".to_owned()));
        }
        if n < pre.len() {
            return Err(bad("the header is cut off".to_owned()));
        }
        let version = u32_at(&pre, 8);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(bad(format!(
                "trace format version {version}; this trace-cli reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}"
            )));
        }
        let len = u32_at(&pre, 12);
        if len > MAX_CHUNK_LEN {
            return Err(bad("the header is damaged (impossible length)".to_owned()));
        }
        let mut json = vec![0u8; len as usize];
        if read_full(&mut r, &mut json).map_err(io_err)? < json.len() {
            return Err(bad("the header is cut off".to_owned()));
        }
        if crc32fast::hash(&json) != u32_at(&pre, 16) {
            return Err(bad("the header is damaged (checksum mismatch)".to_owned()));
        }
        let header: Header = serde_json::from_slice(&json)
            .map_err(|e| bad(format!("the header is damaged: {e}")))?;
        let map = CatalogMap::new(&header.catalog);
        Ok(Reader {
            r,
            header,
            map,
            chunk: Vec::new(),
            pos: 0,
            offset: (super::PREAMBLE_LEN + json.len()) as u64,
            damage: None,
            done: false,
            unknown: 0,
            chunks: 0,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Why reading stopped before the end of the file, if it did.
    pub fn damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// Events of probes this catalog does not know (skipped).
    pub fn unknown_probes(&self) -> u64 {
        self.unknown
    }

    /// Complete chunks read.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    fn stop(&mut self, why: String, read_so_far: u64) {
        // Count what is left, so the user knows how much was ignored.
        let mut rest = read_so_far;
        let mut sink = [0u8; 65536];
        while let Ok(n) = self.r.read(&mut sink) {
            if n == 0 {
                break;
            }
            rest += n as u64;
        }
        self.damage = Some(Damage {
            offset: self.offset,
            ignored: rest,
            why,
        });
        self.done = true;
    }

    /// Loads the next chunk; false at the end or at damage.
    fn load_chunk(&mut self) -> bool {
        let mut head = [0u8; CHUNK_HEADER_LEN];
        let n = match read_full(&mut self.r, &mut head) {
            Ok(n) => n,
            Err(e) => {
                self.stop(format!("read error: {e}"), 0);
                return false;
            }
        };
        if n == 0 {
            self.done = true;
            return false;
        }
        if n < head.len() {
            self.stop(
                "incomplete chunk (the recording was cut off)".to_owned(),
                n as u64,
            );
            return false;
        }
        if &head[..4] != CHUNK_MAGIC {
            self.stop("not a chunk (damaged file)".to_owned(), n as u64);
            return false;
        }
        let (raw_len, stored_len, crc) = (u32_at(&head, 4), u32_at(&head, 8), u32_at(&head, 12));
        if raw_len > MAX_CHUNK_LEN || stored_len > MAX_CHUNK_LEN {
            self.stop(
                "chunk with an impossible length (damaged file)".to_owned(),
                n as u64,
            );
            return false;
        }
        let mut stored = vec![0u8; stored_len as usize];
        let got = read_full(&mut self.r, &mut stored).unwrap_or(0);
        if got < stored.len() {
            self.stop(
                "incomplete chunk (the recording was cut off)".to_owned(),
                (n + got) as u64,
            );
            return false;
        }
        let whole = (n + got) as u64;
        if crc32fast::hash(&stored) != crc {
            self.stop("chunk checksum mismatch (damaged file)".to_owned(), whole);
            return false;
        }
        match zstd::bulk::decompress(&stored, raw_len as usize) {
            Ok(raw) if raw.len() == raw_len as usize => self.chunk = raw,
            _ => {
                self.stop("chunk does not decompress (damaged file)".to_owned(), whole);
                return false;
            }
        }
        self.pos = 0;
        self.offset += whole;
        self.chunks += 1;
        true
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.chunk.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    /// One record from the current chunk; `None` if it is malformed.
    fn parse_record(&mut self) -> Option<Option<Record>> {
        let tag = *self.take(1)?.first()?;
        Some(match tag {
            TAG_EVENT => {
                let ts_ns = self.u64()?;
                let pid = self.u32()?;
                let tid = self.u32()?;
                let cpu = self.u32()?;
                let probe = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
                let flags = *self.take(1)?.first()?;
                let nargs = usize::from(*self.take(1)?.first()?);
                if nargs > MAX_ARGS {
                    return None;
                }
                let mut args = [0u64; MAX_ARGS];
                for a in args.iter_mut().take(nargs) {
                    *a = self.u64()?;
                }
                match self.map.map(probe, &args[..nargs]) {
                    Some((probe, args)) => Some(Record::Event(Event {
                        ts_ns,
                        pid,
                        tid,
                        cpu,
                        probe,
                        read_error: flags & goro_ebpf::EVENT_READ_ERROR != 0,
                        args,
                    })),
                    None => {
                        self.unknown += 1;
                        None
                    }
                }
            }
            TAG_COUNTERS => {
                let ts_ns = self.u64()?;
                let counters = BpfCounters {
                    hits: self.u64()?,
                    drops: self.u64()?,
                    spec_misses: self.u64()?,
                    read_errors: self.u64()?,
                };
                Some(Record::Counters { ts_ns, counters })
            }
            TAG_END => {
                let len = self.u32()? as usize;
                let json = self.take(len)?;
                Some(Record::End(serde_json::from_slice(json).ok()?))
            }
            TAG_STATE => {
                let len = self.u32()? as usize;
                let json = self.take(len)?;
                Some(Record::State(Box::new(serde_json::from_slice(json).ok()?)))
            }
            _ => return None,
        })
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if self.done {
                return None;
            }
            if self.pos >= self.chunk.len() && !self.load_chunk() {
                return None;
            }
            match self.parse_record() {
                Some(Some(r)) => return Some(r),
                Some(None) => {}
                None => {
                    // Checksummed and still malformed: written by something else.
                    self.chunks -= 1;
                    self.stop("malformed record in a chunk (damaged file)".to_owned(), 0);
                    return None;
                }
            }
        }
    }
}
