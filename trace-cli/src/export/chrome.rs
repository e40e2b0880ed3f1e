//! The Chrome JSON trace-event format (`chrome://tracing`, and Perfetto UI opens it too):
//! `{"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}`.
//!
//! Each root track (a runtime) is a process (`pid`), each of its tracks a thread (`tid` = the
//! track's id), named by `M` metadata events and sorted by `thread_sort_index`. Slices are
//! complete events (`X`, with their duration), written when they end: a `B` and an `E` at the
//! same microsecond on one thread (one status ending as the next begins) are left to the
//! viewer's sort to order, a complete event is not. Instants are `i` with thread scope, flows
//! `s` → `f` (bound to the enclosing slice). Times are microseconds since `otherData.base_ns`
//! (the recording's start on the probes' clock), so a double keeps every nanosecond. The array
//! is not in time order (a slice comes at its end); both viewers sort it.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{Map, Value as Json, json};

use super::{Args, Colour, Flow, Format, Track, Value};

/// A slice begun and not ended yet.
#[derive(Debug)]
struct Open {
    name: String,
    ts_ns: u64,
    colour: Colour,
    args: Args,
}

/// Writes events to `W` as they come (slices as they end). See the module documentation.
#[derive(Debug)]
pub struct Chrome<W: Write> {
    out: W,
    base_ns: u64,
    /// Each track's process (its root's id).
    pid: HashMap<u64, u64>,
    /// Each track's open slices, innermost last: memory bounded by the tracks, not the file.
    open: HashMap<u64, Vec<Open>>,
    first: bool,
}

/// Chrome's reserved colour names.
fn cname(c: Colour) -> &'static str {
    match c {
        Colour::Running => "thread_state_running",
        Colour::Idle => "thread_state_sleeping",
        Colour::Syscall => "thread_state_iowait",
        Colour::Stopped => "thread_state_uninterruptible",
        Colour::Dead => "black",
        Colour::Bad => "terrible",
        Colour::Neutral => "grey",
    }
}

fn args_json(args: &Args) -> Json {
    let mut m = Map::new();
    for (k, v) in args {
        let v = match v {
            Value::U64(x) => json!(x),
            Value::I64(x) => json!(x),
            Value::F64(x) => json!(x),
            Value::Bool(x) => json!(x),
            Value::Str(x) => json!(x),
        };
        m.insert((*k).to_owned(), v);
    }
    Json::Object(m)
}

impl<W: Write> Chrome<W> {
    /// `base_ns`: time zero, on the probes' clock.
    pub fn new(out: W, base_ns: u64) -> Chrome<W> {
        Chrome {
            out,
            base_ns,
            pid: HashMap::new(),
            open: HashMap::new(),
            first: true,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn ts(&self, ns: u64) -> f64 {
        (ns as i128 - i128::from(self.base_ns)) as f64 / 1e3
    }

    fn emit(&mut self, v: &Json) -> io::Result<()> {
        if self.first {
            self.out.write_all(b"{\"traceEvents\":[\n")?;
            self.first = false;
        } else {
            self.out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut self.out, v).map_err(io::Error::other)
    }

    fn ids(&self, track: u64) -> (u64, u64) {
        (self.pid.get(&track).copied().unwrap_or(track), track)
    }
}

impl<W: Write> Format for Chrome<W> {
    fn track(&mut self, t: &Track) -> io::Result<()> {
        let pid = t.parent.unwrap_or(t.id);
        self.pid.insert(t.id, pid);
        if t.parent.is_none() {
            self.emit(
                &json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                "args": {"name": t.name}}),
            )?;
            self.emit(
                &json!({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
                "args": {"sort_index": t.rank}}),
            )
        } else {
            self.emit(
                &json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": t.id,
                "args": {"name": t.name}}),
            )?;
            self.emit(
                &json!({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": t.id,
                "args": {"sort_index": t.rank}}),
            )
        }
    }

    fn begin(
        &mut self,
        track: u64,
        ts_ns: u64,
        name: &str,
        colour: Colour,
        args: &Args,
    ) -> io::Result<()> {
        self.open.entry(track).or_default().push(Open {
            name: name.to_owned(),
            ts_ns,
            colour,
            args: args.clone(),
        });
        Ok(())
    }

    fn end(&mut self, track: u64, ts_ns: u64, args: &Args) -> io::Result<()> {
        let Some(mut s) = self.open.get_mut(&track).and_then(Vec::pop) else {
            return Ok(());
        };
        s.args.extend(args.iter().cloned());
        let (pid, tid) = self.ids(track);
        let dur = ts_ns.saturating_sub(s.ts_ns) as f64 / 1e3;
        let v = json!({"ph": "X", "pid": pid, "tid": tid, "ts": self.ts(s.ts_ns), "dur": dur,
            "name": s.name, "cat": "goro", "cname": cname(s.colour), "args": args_json(&s.args)});
        self.emit(&v)
    }

    fn instant(
        &mut self,
        track: u64,
        ts_ns: u64,
        name: &str,
        args: &Args,
        flow: Flow,
    ) -> io::Result<()> {
        let (pid, tid) = self.ids(track);
        let ts = self.ts(ts_ns);
        self.emit(
            &json!({"ph": "i", "s": "t", "pid": pid, "tid": tid, "ts": ts, "name": name,
            "cat": "goro", "args": args_json(args)}),
        )?;
        if let Some(id) = flow.out {
            self.emit(
                &json!({"ph": "s", "id": id, "pid": pid, "tid": tid, "ts": ts,
                "name": "hand-off", "cat": "flow"}),
            )?;
        }
        if let Some(id) = flow.into {
            self.emit(
                &json!({"ph": "f", "bp": "e", "id": id, "pid": pid, "tid": tid, "ts": ts,
                "name": "hand-off", "cat": "flow"}),
            )?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.first {
            self.out.write_all(b"{\"traceEvents\":[")?;
            self.first = false;
        }
        write!(
            self.out,
            "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{{\"base_ns\":{},\"generator\":\"trace-cli export\"}}}}\n",
            self.base_ns
        )?;
        self.out.flush()
    }
}
