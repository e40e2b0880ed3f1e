//! Timelines for the field's standard viewers: a recording replayed through the engine and
//! drawn from the engine's own steps (an [`Observer`](crate::engine::Observer) of its model),
//! never from a second model of the scheduler.
//!
//! * [`timeline`]: the drawing: one track per P with a slice per status (named by Go's status
//!   names, so viewers that colour by name colour by status), one per M (what it runs, parked,
//!   not started, locked), the stop-the-worlds with their reason and time to stop, hand-offs and
//!   template-thread steps as instant events joined by flows from the M to the P or M they
//!   concern, and findings as instant events carrying their explanation, at the moment they
//!   fired.
//! * [`perfetto`]: Perfetto's protobuf trace (`TracePacket`s of `TrackDescriptor`s and
//!   `TrackEvent`s), for ui.perfetto.dev and trace_processor.
//! * [`chrome`]: the Chrome JSON trace-event format, for `chrome://tracing` (Perfetto UI opens
//!   it too).
//!
//! Both formats are written as the replay goes (Perfetto: slice begin and end events in time
//! order; Chrome: each slice whole when it ends), so memory stays flat on a long recording.

pub mod chrome;
pub mod perfetto;
pub mod timeline;

use std::io;

/// An argument's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::U64(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::U64(v.into())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::F64(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

/// Named arguments of an event, in order.
pub type Args = Vec<(&'static str, Value)>;

/// A track: a row of the timeline. Declared to the format once, before its first event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// Unique in the file, never 0.
    pub id: u64,
    /// The group it belongs to (a runtime's root track); `None` for a root.
    pub parent: Option<u64>,
    pub name: String,
    /// Its place among its siblings (smaller first).
    pub rank: i32,
}

/// A slice's colour, for formats that let the writer choose (Chrome's reserved colour names).
/// Perfetto UI colours a slice by its name, so one status keeps one colour there too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Running,
    Idle,
    Syscall,
    Stopped,
    Dead,
    Bad,
    Neutral,
}

/// Flows join an instant event to one on another track (an M handing a P off, to that P).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// The flow this event starts.
    pub out: Option<u64>,
    /// The flow this event ends.
    pub into: Option<u64>,
}

/// A file format: receives tracks and events in time order. Slices on one track never
/// overlap except by nesting.
pub trait Format {
    fn track(&mut self, t: &Track) -> io::Result<()>;
    fn begin(
        &mut self,
        track: u64,
        ts_ns: u64,
        name: &str,
        colour: Colour,
        args: &Args,
    ) -> io::Result<()>;
    /// Ends the innermost open slice of `track`; `args` are merged into it.
    fn end(&mut self, track: u64, ts_ns: u64, args: &Args) -> io::Result<()>;
    fn instant(
        &mut self,
        track: u64,
        ts_ns: u64,
        name: &str,
        args: &Args,
        flow: Flow,
    ) -> io::Result<()>;
    /// Everything was written: close the file's structure and flush.
    fn finish(&mut self) -> io::Result<()>;
}

#[cfg(test)]
mod tests;
