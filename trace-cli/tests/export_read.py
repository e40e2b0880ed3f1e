"""Reads a timeline written by `trace-cli export` the way its viewers' own code would, and
prints it as one normalised JSON object for the Rust test to check:

    {"tracks": ["root/name", ...],
     "slices": [{"track", "name", "start", "end", "args"}],        # begin/end paired per track
     "instants": [{"track", "name", "ts", "args", "flow_out", "flow_in"}]}

perfetto: parsed with Perfetto's own schema, the `perfetto` package's generated
`perfetto_trace_pb2` (not with trace-cli's encoder). chrome: parsed with `json`.
Times are nanoseconds on the probes' clock. Usage: export_read.py perfetto|chrome FILE
"""

import json
import sys


def annotation_value(a):
    kind = a.WhichOneof("value")
    return getattr(a, kind) if kind else None


def read_perfetto(path):
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

    trace = pb.Trace()
    with open(path, "rb") as f:
        trace.ParseFromString(f.read())
    names, tracks, slices, instants, open_ = {}, [], [], [], {}
    for p in trace.packet:
        if p.HasField("track_descriptor"):
            t = p.track_descriptor
            name = t.name
            if t.HasField("parent_uuid"):
                name = names[t.parent_uuid] + "/" + name
                tracks.append(name)
            names[t.uuid] = name
            continue
        if not p.HasField("track_event"):
            raise SystemExit("unexpected packet: %s" % p)
        e = p.track_event
        track = names[e.track_uuid]
        args = {a.name: annotation_value(a) for a in e.debug_annotations}
        if e.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
            open_.setdefault(track, []).append(
                {"track": track, "name": e.name, "start": p.timestamp, "args": args}
            )
        elif e.type == pb.TrackEvent.TYPE_SLICE_END:
            s = open_[track].pop()
            s["end"] = p.timestamp
            s["args"].update(args)
            slices.append(s)
        elif e.type == pb.TrackEvent.TYPE_INSTANT:
            instants.append(
                {
                    "track": track,
                    "name": e.name,
                    "ts": p.timestamp,
                    "args": args,
                    "flow_out": list(e.flow_ids),
                    "flow_in": list(e.terminating_flow_ids),
                }
            )
        else:
            raise SystemExit("unexpected event type %d" % e.type)
    if any(open_.values()):
        raise SystemExit("slices never ended: %s" % open_)
    return {"tracks": tracks, "slices": slices, "instants": instants}


def read_chrome(path):
    with open(path) as f:
        doc = json.load(f)
    base = doc["otherData"]["base_ns"]
    procs, threads, tracks, slices, instants = {}, {}, [], [], []

    def ns(e):
        return base + round(e["ts"] * 1000)

    for e in doc["traceEvents"]:
        key = (e["pid"], e["tid"])
        ph = e["ph"]
        if ph == "M":
            if e["name"] == "process_name":
                procs[e["pid"]] = e["args"]["name"]
            elif e["name"] == "thread_name":
                threads[key] = procs[e["pid"]] + "/" + e["args"]["name"]
                tracks.append(threads[key])
            continue
        track = threads[key]
        if ph == "X":
            start = ns(e)
            slices.append(
                {
                    "track": track,
                    "name": e["name"],
                    "start": start,
                    "end": start + round(e["dur"] * 1000),
                    "args": e.get("args", {}),
                }
            )
        elif ph == "i":
            instants.append(
                {
                    "track": track,
                    "name": e["name"],
                    "ts": ns(e),
                    "args": e.get("args", {}),
                    "flow_out": [],
                    "flow_in": [],
                }
            )
        elif ph in ("s", "f"):
            # trace-cli writes a flow's end right after the instant it binds to.
            i = instants[-1]
            assert (i["track"], i["ts"]) == (track, ns(e)), (i, e)
            i["flow_out" if ph == "s" else "flow_in"].append(e["id"])
        else:
            raise SystemExit("unexpected phase %s" % ph)
    return {"tracks": tracks, "slices": slices, "instants": instants}


def main():
    kind, path = sys.argv[1], sys.argv[2]
    out = read_perfetto(path) if kind == "perfetto" else read_chrome(path)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
