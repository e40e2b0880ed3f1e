// SPDX-License-Identifier: GPL-2.0
/*
 * goro's USDT handler: one program for every probe site. The loader attaches it as a uprobe
 * at each site with the site's index as the attach cookie, and fills SPECS[cookie] from the
 * site's SDT note; the handler decodes the arguments from the registers (or memory) the note
 * names and writes one fixed-size event into the EVENTS ring buffer.
 *
 * GPL: bpf_probe_read_kernel/_user are GPL-only helpers.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "goro_usdt.h"

struct pt_regs; /* opaque: register offsets come from the loader */

/* x86_64's struct pt_regs is 21 registers of 8 bytes (arch/x86/include/asm/ptrace.h). */
#define NREGS 21

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* the loader sets the size (--ring-size) */
} EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the loader sets it to the number of sites */
	__type(key, __u32);
	__type(value, struct goro_site_spec);
} SPECS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GORO_NCOUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} COUNTERS SEC(".maps");

/*
 * Wake the reader only once this many bytes are pending: a wake-up per event costs the
 * firing thread ~400 ns more. The reader also drains on a timer, so a quiet process's last
 * events are not held back. Must stay well below the ring size, or the reader is never
 * woken and events drop; the loader sets it to a fraction of the ring.
 */
const volatile __u64 WAKE_BYTES = 65536;

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&COUNTERS, &idx);

	if (c)
		*c += 1;
}

/*
 * The verifier rejects a ctx load at a variable offset, and a helper call per argument
 * (bpf_probe_read_kernel) costs more than the rest of the handler. So the registers are copied
 * once, by loads at constant offsets, into `regs`, which is then indexed.
 */
static __always_inline __u64 reg(const __u64 *regs, __u16 off, int *err)
{
	__u32 i = off >> 3;

	if (i >= NREGS) {
		*err = 1;
		return 0;
	}
	return regs[i];
}

static __always_inline __u64 read_arg(const __u64 *regs, const struct goro_arg_spec *a, int *err)
{
	__u64 v = 0, addr = 0;
	int bits;

	switch (a->loc) {
	case GORO_ARG_CONST:
		v = (__u64)a->val;
		break;
	case GORO_ARG_REG:
		v = reg(regs, a->reg_off, err) >> (a->shift & 63);
		break;
	case GORO_ARG_MEM:
		addr = reg(regs, a->reg_off, err) + a->val;
		/* Read exactly the argument's size: the bytes after it may be unmapped. */
		switch (a->size) {
		case 1: {
			__u8 t = 0;
			if (bpf_probe_read_user(&t, 1, (void *)addr))
				*err = 1;
			v = t;
			break;
		}
		case 2: {
			__u16 t = 0;
			if (bpf_probe_read_user(&t, 2, (void *)addr))
				*err = 1;
			v = t;
			break;
		}
		case 4: {
			__u32 t = 0;
			if (bpf_probe_read_user(&t, 4, (void *)addr))
				*err = 1;
			v = t;
			break;
		}
		default:
			if (bpf_probe_read_user(&v, 8, (void *)addr))
				*err = 1;
			break;
		}
		break;
	default:
		return 0;
	}
	bits = 64 - 8 * (a->size & 15);
	if (bits > 0 && bits < 64) {
		v <<= bits;
		v = a->is_signed ? (__u64)((__s64)v >> bits) : v >> bits;
	}
	return v;
}

SEC("uprobe")
int goro_usdt(struct pt_regs *ctx)
{
	__u32 key = (__u32)bpf_get_attach_cookie(ctx);
	struct goro_site_spec *spec;
	struct goro_event *e;
	__u64 pid_tgid, flags;
	__u64 regs[NREGS];
	int err = 0;
	__u32 n;

	count(GORO_CNT_HITS);
	spec = bpf_map_lookup_elem(&SPECS, &key);
	if (!spec) {
		count(GORO_CNT_SPEC_MISS);
		return 0;
	}
	e = bpf_ringbuf_reserve(&EVENTS, sizeof(*e), 0);
	if (!e) {
		count(GORO_CNT_DROPS);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	pid_tgid = bpf_get_current_pid_tgid();
	e->tgid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->cpu = bpf_get_smp_processor_id();
	e->probe = spec->probe;
#pragma unroll
	for (int i = 0; i < NREGS; i++)
		regs[i] = ((const __u64 *)ctx)[i];
	n = spec->nargs;
	if (n > GORO_MAX_ARGS)
		n = GORO_MAX_ARGS;
	e->nargs = n;
#pragma unroll
	for (int i = 0; i < GORO_MAX_ARGS; i++)
		e->args[i] = i < n ? read_arg(regs, &spec->args[i], &err) : 0;
	e->flags = err ? GORO_EVENT_READ_ERROR : 0;
	if (err)
		count(GORO_CNT_READ_ERROR);
	flags = bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA) >= WAKE_BYTES ? BPF_RB_FORCE_WAKEUP
									      : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	return 0;
}

/*
 * The floor: a uprobe whose program returns at once. The benchmark attaches it instead of
 * goro_usdt to measure what the trap alone costs, in the same run as the full handler.
 */
SEC("uprobe")
int goro_usdt_floor(struct pt_regs *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
