// Package bench holds Go's side of the goro-vs-Go scheduler benchmarks.
//
// Every benchmark here has a counterpart with the same name in runtime/benches/sched.rs;
// bench/compare.sh runs both and prints them side by side. Keep the two in step: the
// numbers are only comparable if each side does the same work per op.
package bench

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// One op: start a goroutine and wait until it has finished. A channel close is the cheapest
// "it has finished" signal Go has, and matches goro's JoinHandle::join.
func BenchmarkCreateJoin(b *testing.B) {
	for i := 0; i < b.N; i++ {
		done := make(chan struct{})
		go func() { close(done) }()
		<-done
	}
}

// One op: a full round trip over two unbuffered channels between two goroutines, so each op
// is two rendezvous (ping, pong) and two goroutine wake-ups.
func BenchmarkPingPong(b *testing.B) {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ping <- i
		<-pong
	}
	b.StopTimer()
	close(ping)
	<-pong
}

// One op: one runtime.Gosched with nothing else runnable, i.e. the cost of a trip through
// the scheduler and back. GOMAXPROCS is whatever -cpu / the environment gives.
func BenchmarkGosched(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.Gosched()
	}
}

// One op: time.Sleep(1µs), i.e. the timer's latency floor: park, timer fires, wake, run.
func BenchmarkSleep1us(b *testing.B) {
	for i := 0; i < b.N; i++ {
		time.Sleep(time.Microsecond)
	}
}

const spawnCount = 1 << 20 // "1M": 1,048,576 goroutines per op

// One op: spawn 1M goroutines from one spawner per P (so every P's run queue is fed), and
// wait for all of them. Reported as ns/goroutine, which compare.sh uses instead of ns/op.
func BenchmarkSpawn1M(b *testing.B) {
	spawners := runtime.GOMAXPROCS(0)
	// testing.B.Elapsed is Go 1.20+; this module targets 1.19.
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		wg.Add(spawnCount)
		var sp sync.WaitGroup
		sp.Add(spawners)
		for s := 0; s < spawners; s++ {
			n := spawnCount / spawners
			if s == 0 {
				n += spawnCount % spawners
			}
			go func(n int) {
				for j := 0; j < n; j++ {
					go wg.Done()
				}
				sp.Done()
			}(n)
		}
		wg.Wait()
		sp.Wait()
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/spawnCount, "ns/goroutine")
}

// One op: a LockOSThread + UnlockOSThread pair (no thread switch happens: both are counter
// updates on the current M).
func BenchmarkLockOSThread(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.LockOSThread()
		runtime.UnlockOSThread()
	}
}

// One op: runtime.ReadMemStats, which stops the world and starts it again. This is the
// cheapest public way to time a stop-the-world round trip in Go.
func BenchmarkReadMemStats(b *testing.B) {
	var ms runtime.MemStats
	for i := 0; i < b.N; i++ {
		runtime.ReadMemStats(&ms)
	}
}
