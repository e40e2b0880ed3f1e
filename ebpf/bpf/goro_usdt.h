/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The records shared by goro's USDT handler (goro_usdt.bpf.c) and its loader (trace-cli):
 * the per-site argument specs the loader writes, the event the handler writes to the ring
 * buffer, and the index of each counter. Rust mirrors every struct with #[repr(C)] types
 * (ebpf/src/lib.rs); both sides assert the same sizes and offsets, so a change on one side
 * that the other does not follow fails to build.
 *
 * Nothing here knows a probe's shape: the loader reads each site's argument specs from its SDT
 * note and the probe id from the catalog, so a catalog change needs no change here.
 */
#ifndef GORO_USDT_H
#define GORO_USDT_H

#include <linux/types.h>

/* The most arguments a probe may have: the SDT convention's limit, and the catalog's. */
#define GORO_MAX_ARGS 12

/* Where an argument is (one SDT argument spec, decoded by the loader). */
enum goro_arg_loc {
	GORO_ARG_NONE = 0,  /* unused slot */
	GORO_ARG_CONST = 1, /* `$imm`: the value is `val` */
	GORO_ARG_REG = 2,   /* `%reg`: the register at `reg_off` in pt_regs */
	GORO_ARG_MEM = 3,   /* `disp(%reg)`: `size` bytes at register + `val` in user memory */
};

struct goro_arg_spec {
	__s64 val;     /* the constant, or the displacement of a memory operand */
	__u16 reg_off; /* offsetof(struct pt_regs, <full register>) */
	__u8 loc;      /* enum goro_arg_loc */
	__u8 size;     /* 1, 2, 4 or 8 bytes */
	__u8 is_signed;
	__u8 shift; /* bit offset inside the register: 8 for %ah..%dh, else 0 */
	__u8 _pad[2];
};

/* One probe site: the attach cookie is its index in the SPECS array. */
struct goro_site_spec {
	__u16 probe; /* index of the probe in the catalog */
	__u8 nargs;
	__u8 _pad[5];
	struct goro_arg_spec args[GORO_MAX_ARGS];
};

/* Set in goro_event.flags when some argument could not be read (its value is 0). */
#define GORO_EVENT_READ_ERROR 1

/* One probe hit, as the handler writes it to the EVENTS ring buffer. */
struct goro_event {
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 tgid;  /* the process (user space's pid) */
	__u32 tid;   /* the thread */
	__u32 cpu;
	__u16 probe; /* catalog index, copied from the site's spec */
	__u8 nargs;
	__u8 flags; /* GORO_EVENT_* */
	__u64 args[GORO_MAX_ARGS]; /* truncated to the spec's size, then sign- or zero-extended */
};

/* Per-CPU counters (the COUNTERS map), by index. */
enum goro_counter {
	GORO_CNT_HITS = 0,       /* handler runs */
	GORO_CNT_DROPS = 1,      /* events lost: the ring buffer was full */
	GORO_CNT_SPEC_MISS = 2,  /* a cookie with no spec: the event is lost */
	GORO_CNT_READ_ERROR = 3, /* events with an argument that could not be read */
	GORO_NCOUNTERS = 4,
};

_Static_assert(sizeof(struct goro_arg_spec) == 16, "goro_arg_spec layout");
_Static_assert(sizeof(struct goro_site_spec) == 8 + 16 * GORO_MAX_ARGS, "goro_site_spec layout");
_Static_assert(__builtin_offsetof(struct goro_site_spec, args) == 8, "goro_site_spec.args");
_Static_assert(sizeof(struct goro_event) == 24 + 8 * GORO_MAX_ARGS, "goro_event layout");
_Static_assert(__builtin_offsetof(struct goro_event, cpu) == 16, "goro_event.cpu");
_Static_assert(__builtin_offsetof(struct goro_event, probe) == 20, "goro_event.probe");
_Static_assert(__builtin_offsetof(struct goro_event, nargs) == 22, "goro_event.nargs");
_Static_assert(__builtin_offsetof(struct goro_event, flags) == 23, "goro_event.flags");
_Static_assert(__builtin_offsetof(struct goro_event, args) == 24, "goro_event.args");

#endif
