package scale_test

import (
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// yardstick measures what CPU time costs on this machine while a benchmark runs. It does
// the same small piece of work (scanning and hashing one JSON object of an ingress's
// shape: JSON is what the operator spends most of its time on) a few hundred times every
// 250 ms, on a thread of its own, and times it with that thread's own CPU clock. On two
// cores shared with N API servers and their etcds, the same work takes more CPU time as N
// grows (the caches and the hypervisor are shared too): dividing the operator's CPU by
// the yardstick's cost per unit gives its work in units that this inflation does not
// move. It uses about 1 % of a core and allocates nothing.
type yardstick struct {
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	units int
	cpu   time.Duration
}

// yardstickDoc is what one unit of the yardstick's work scans and hashes.
var yardstickDoc = []byte(`{"apiVersion":"anycast.io/v1alpha1","kind":"AnycastIngress","metadata":{"name":"ing-0001","namespace":"team-01","uid":"4b1f8a52-3c6e-4d2a-9a57-0d8f3c9e1a11","resourceVersion":"123456","generation":1,"labels":{"app":"web"},"finalizers":["anycast.io/finalizer"]},"spec":{"className":"scale","routes":[{"name":"web","pathPrefix":"/","backend":{"service":"web","port":8080}}],"health":{"enabled":false}},"status":{"address":"10.100.0.17","conditions":[{"type":"Accepted","status":"True","reason":"Accepted","message":"","lastTransitionTime":"2026-12-06T09:00:00Z","observedGeneration":1},{"type":"Programmed","status":"True","reason":"Programmed","message":"programmed on every member","lastTransitionTime":"2026-12-06T09:00:01Z","observedGeneration":1},{"type":"Ready","status":"True","reason":"Ready","message":"","lastTransitionTime":"2026-12-06T09:00:01Z","observedGeneration":1}],"clusters":[{"name":"m00","programmed":true,"message":""},{"name":"m01","programmed":true,"message":""},{"name":"m02","programmed":true,"message":""}]}}`)

// yardstickUnit is one unit of the yardstick's work: scanning the document as JSON and
// hashing it, byte by byte. It allocates nothing, so that it neither counts in the
// operator's allocations nor makes its garbage collector run more often.
func yardstickUnit() uint64 {
	if !json.Valid(yardstickDoc) {
		panic("the yardstick's document is not JSON")
	}
	h := uint64(14695981039346656037) // FNV-1a
	for _, b := range yardstickDoc {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return h
}

const yardstickUnitsPerTick = 500

// yardstickSink keeps the compiler from dropping the yardstick's work.
var yardstickSink atomic.Uint64

func startYardstick() *yardstick {
	y := &yardstick{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(y.done)
		runtime.LockOSThread() // the thread's CPU clock is this goroutine's
		defer runtime.UnlockOSThread()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-y.stop:
				return
			case <-t.C:
			}
			c0 := threadCPU()
			var sum uint64
			for range yardstickUnitsPerTick {
				sum += yardstickUnit()
			}
			d := threadCPU() - c0
			yardstickSink.Store(sum)
			y.mu.Lock()
			y.units += yardstickUnitsPerTick
			y.cpu += d
			y.mu.Unlock()
		}
	}()
	return y
}

// read returns the units done and the CPU they took so far.
func (y *yardstick) read() (units int, cpu time.Duration) {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.units, y.cpu
}

func (y *yardstick) Stop() {
	close(y.stop)
	<-y.done
}

// perUnitSince is the yardstick's CPU per unit since it had done units0 units in cpu0
// (zero when it did none since).
func (y *yardstick) perUnitSince(units0 int, cpu0 time.Duration) time.Duration {
	units, cpu := y.read()
	if units == units0 {
		return 0
	}
	return (cpu - cpu0) / time.Duration(units-units0)
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

// TestYardstickAllocatesNothing: the yardstick runs beside the operator in the member
// benchmarks; an allocation would count in the operator's figures and run its collector.
func TestYardstickAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { yardstickUnit() }); n != 0 {
		t.Errorf("a yardstick unit allocates %.1f times; want none", n)
	}
	y := startYardstick()
	time.Sleep(600 * time.Millisecond)
	y.Stop()
	if units, cpu := y.read(); units < yardstickUnitsPerTick || cpu <= 0 {
		t.Errorf("after 600 ms the yardstick did %d units in %s; want at least one tick's %d", units, cpu, yardstickUnitsPerTick)
	} else {
		t.Logf("%d units, %s per unit", units, cpu/time.Duration(units))
	}
}
