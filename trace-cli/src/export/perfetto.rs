//! Perfetto's protobuf trace format: a `Trace` is a sequence of `TracePacket`s; ours carry
//! `TrackDescriptor`s (one per track, before its first event) and `TrackEvent`s (slice begin,
//! slice end, instant), all on one packet sequence.
//!
//! The messages below are the subset of Perfetto's schema (`protos/perfetto/trace/`:
//! `trace.proto`, `trace_packet.proto`, `track_event/track_descriptor.proto`,
//! `track_event/track_event.proto`, `track_event/debug_annotation.proto`) that this writer
//! sets, with Perfetto's field numbers and types, encoded by `prost`. Fields of a `oneof` in
//! the schema are plain optional fields here: we set at most one of each. Perfetto's schema
//! is proto2, where repeated scalars are not packed, so neither are ours.

use std::io::{self, Write};

use prost::Message;

use super::{Args, Colour, Flow, Format, Track, Value};

/// `TracePacket.SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED`: the first packet of a sequence
/// says that nothing before it is needed to read what follows.
const SEQ_INCREMENTAL_STATE_CLEARED: u32 = 1;
/// The one packet sequence of the file.
const SEQUENCE_ID: u32 = 1;
/// `TrackEvent.Type`.
const TYPE_SLICE_BEGIN: i32 = 1;
const TYPE_SLICE_END: i32 = 2;
const TYPE_INSTANT: i32 = 3;
/// `TrackDescriptor.ChildTracksOrdering.EXPLICIT`: children sorted by `sibling_order_rank`.
const CHILD_ORDERING_EXPLICIT: i32 = 3;
/// The field number of `Trace.packet`, as a length-delimited key.
const TRACE_PACKET_KEY: u8 = (1 << 3) | 2;

#[derive(Clone, PartialEq, Message)]
pub struct TracePacket {
    #[prost(uint64, optional, tag = "8")]
    pub timestamp: Option<u64>,
    #[prost(uint32, optional, tag = "10")]
    pub trusted_packet_sequence_id: Option<u32>,
    #[prost(message, optional, tag = "11")]
    pub track_event: Option<TrackEvent>,
    #[prost(uint32, optional, tag = "13")]
    pub sequence_flags: Option<u32>,
    #[prost(message, optional, tag = "60")]
    pub track_descriptor: Option<TrackDescriptor>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TrackDescriptor {
    #[prost(uint64, optional, tag = "1")]
    pub uuid: Option<u64>,
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    #[prost(uint64, optional, tag = "5")]
    pub parent_uuid: Option<u64>,
    #[prost(int32, optional, tag = "11")]
    pub child_ordering: Option<i32>,
    #[prost(int32, optional, tag = "12")]
    pub sibling_order_rank: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TrackEvent {
    #[prost(message, repeated, tag = "4")]
    pub debug_annotations: Vec<DebugAnnotation>,
    #[prost(int32, optional, tag = "9")]
    pub r#type: Option<i32>,
    #[prost(uint64, optional, tag = "11")]
    pub track_uuid: Option<u64>,
    #[prost(string, repeated, tag = "22")]
    pub categories: Vec<String>,
    #[prost(string, optional, tag = "23")]
    pub name: Option<String>,
    #[prost(fixed64, repeated, packed = "false", tag = "47")]
    pub flow_ids: Vec<u64>,
    #[prost(fixed64, repeated, packed = "false", tag = "48")]
    pub terminating_flow_ids: Vec<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DebugAnnotation {
    #[prost(bool, optional, tag = "2")]
    pub bool_value: Option<bool>,
    #[prost(uint64, optional, tag = "3")]
    pub uint_value: Option<u64>,
    #[prost(int64, optional, tag = "4")]
    pub int_value: Option<i64>,
    #[prost(double, optional, tag = "5")]
    pub double_value: Option<f64>,
    #[prost(string, optional, tag = "6")]
    pub string_value: Option<String>,
    #[prost(string, optional, tag = "10")]
    pub name: Option<String>,
}

fn annotations(args: &Args) -> Vec<DebugAnnotation> {
    args.iter()
        .map(|(k, v)| {
            let mut a = DebugAnnotation {
                name: Some((*k).to_owned()),
                ..DebugAnnotation::default()
            };
            match v {
                Value::U64(x) => a.uint_value = Some(*x),
                Value::I64(x) => a.int_value = Some(*x),
                Value::F64(x) => a.double_value = Some(*x),
                Value::Bool(x) => a.bool_value = Some(*x),
                Value::Str(x) => a.string_value = Some(x.clone()),
            }
            a
        })
        .collect()
}

/// Writes packets to `W` as they come. See the module documentation.
#[derive(Debug)]
pub struct Perfetto<W: Write> {
    out: W,
    buf: Vec<u8>,
    first: bool,
}

impl<W: Write> Perfetto<W> {
    pub fn new(out: W) -> Perfetto<W> {
        Perfetto {
            out,
            buf: Vec::with_capacity(256),
            first: true,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn packet(&mut self, mut p: TracePacket) -> io::Result<()> {
        p.trusted_packet_sequence_id = Some(SEQUENCE_ID);
        if self.first {
            p.sequence_flags = Some(SEQ_INCREMENTAL_STATE_CLEARED);
            self.first = false;
        }
        // `Trace` is `repeated TracePacket packet = 1`: the file is each packet as that field.
        self.buf.clear();
        self.buf.push(TRACE_PACKET_KEY);
        p.encode_length_delimited(&mut self.buf)
            .map_err(io::Error::other)?;
        self.out.write_all(&self.buf)
    }

    fn event(&mut self, ts_ns: u64, e: TrackEvent) -> io::Result<()> {
        self.packet(TracePacket {
            timestamp: Some(ts_ns),
            track_event: Some(e),
            ..TracePacket::default()
        })
    }
}

impl<W: Write> Format for Perfetto<W> {
    fn track(&mut self, t: &Track) -> io::Result<()> {
        self.packet(TracePacket {
            track_descriptor: Some(TrackDescriptor {
                uuid: Some(t.id),
                name: Some(t.name.clone()),
                parent_uuid: t.parent,
                child_ordering: t.parent.is_none().then_some(CHILD_ORDERING_EXPLICIT),
                sibling_order_rank: Some(t.rank),
            }),
            ..TracePacket::default()
        })
    }

    fn begin(
        &mut self,
        track: u64,
        ts_ns: u64,
        name: &str,
        _colour: Colour,
        args: &Args,
    ) -> io::Result<()> {
        self.event(
            ts_ns,
            TrackEvent {
                r#type: Some(TYPE_SLICE_BEGIN),
                track_uuid: Some(track),
                name: Some(name.to_owned()),
                categories: vec!["goro".to_owned()],
                debug_annotations: annotations(args),
                ..TrackEvent::default()
            },
        )
    }

    fn end(&mut self, track: u64, ts_ns: u64, args: &Args) -> io::Result<()> {
        self.event(
            ts_ns,
            TrackEvent {
                r#type: Some(TYPE_SLICE_END),
                track_uuid: Some(track),
                debug_annotations: annotations(args),
                ..TrackEvent::default()
            },
        )
    }

    fn instant(
        &mut self,
        track: u64,
        ts_ns: u64,
        name: &str,
        args: &Args,
        flow: Flow,
    ) -> io::Result<()> {
        self.event(
            ts_ns,
            TrackEvent {
                r#type: Some(TYPE_INSTANT),
                track_uuid: Some(track),
                name: Some(name.to_owned()),
                categories: vec!["goro".to_owned()],
                debug_annotations: annotations(args),
                flow_ids: flow.out.into_iter().collect(),
                terminating_flow_ids: flow.into.into_iter().collect(),
            },
        )
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
