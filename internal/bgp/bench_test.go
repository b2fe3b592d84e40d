package bgp_test

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/anycast-operator/anycast-operator/internal/bgp"
	"github.com/anycast-operator/anycast-operator/test/fabric"
)

// BenchmarkWithdrawalToChange measures, over at least 40 withdrawals through
// the real fabric (speaker -> TOR -> core -> watcher), the delay from the
// withdrawal reaching the watcher (read off the session's socket,
// Change.ReceivedAt) to the Change being delivered on the channel: p50-ms
// and p99-ms. e2e-p50-ms / e2e-p99-ms add the routers: from the speaker
// being told to withdraw (gobgp CLI) to the Change.
func BenchmarkWithdrawalToChange(b *testing.B) {
	f := fabric.Start(b, fabric.Options{})
	f.West.Announce(vip)
	f.East.Announce(vip)
	m := bgp.NewManager(discardLog())
	b.Cleanup(m.Close)
	s := bgp.SessionConfig{Name: "core", Address: f.CoreLink.RouterAddr, ASN: fabric.CoreASN, AddPathReceive: true,
		HoldTime: 9 * time.Second, ConnectRetry: time.Second}
	if err := m.Apply(context.Background(), class, bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{pool}, Sessions: []bgp.SessionConfig{s}}); err != nil {
		b.Fatal(err)
	}
	waitOrigins(b, m, fabric.WestASN, fabric.EastASN)

	rounds := max(b.N, 40)
	var watcher, e2e []time.Duration
	b.ResetTimer()
	for range rounds {
		drain(m)
		start := time.Now()
		f.East.Withdraw(vip)
		c, at := nextChangeUntil(b, m, func() bool { return onlyOrigins(m, fabric.WestASN) })
		watcher = append(watcher, at.Sub(c.ReceivedAt))
		e2e = append(e2e, at.Sub(start))
		f.East.Announce(vip)
		waitOrigins(b, m, fabric.WestASN, fabric.EastASN)
	}
	b.StopTimer()
	b.ReportMetric(percentile(watcher, 50), "p50-ms")
	b.ReportMetric(percentile(watcher, 99), "p99-ms")
	b.ReportMetric(percentile(e2e, 50), "e2e-p50-ms")
	b.ReportMetric(percentile(e2e, 99), "e2e-p99-ms")
	b.ReportMetric(float64(len(watcher)), "withdrawals")
}

// BenchmarkIngest1M feeds the same 1,000,000-prefix IPv4 table (999,000 /24s
// outside the pools, 1,000 /32s inside, one in every thousand, the last
// route among them) to FRR bgpd and then to the watcher, one after the
// other so neither competes for the CPU, from a Feeder that streams
// pre-encoded UPDATEs (so the sender is never the bottleneck).
//
// Reported: frr-s and watcher-s, from the session being established to
// FRR counting every prefix (polled every 100 ms) / to the watcher
// delivering the Change for the table's last route (a session's messages
// are handled in order, so everything before it was processed);
// frr-cpu-s and watcher-cpu-s, the CPU time bgpd and this process used
// meanwhile (steadier than wall time when other work shares the cores); the
// peak RSS of bgpd (VmHWM) and of this process while the watcher ingests
// (VmHWM reset just before) and its growth over the RSS before; and the
// live heap once ingested. The figures are these metrics, not ns/op: the
// benchmark timer runs through the fixture too, so that `go test -bench` runs it
// once whatever -benchtime says (a short timed part would have it run again,
// fixture and all).
func BenchmarkIngest1M(b *testing.B) {
	const total, inPools = 1_000_000, 1_000
	watcherPool := netip.MustParsePrefix("10.255.0.0/16")
	table := benchTable(total)
	last := table[len(table)-1]
	tf := fabric.StartTable(b, fabric.TableOptions{Prefixes: table})
	table = nil

	frr := frrIngest(b, tf, total)

	// Then the watcher, in this process.
	meter := startMeter(b)
	m := bgp.NewManager(discardLog())
	b.Cleanup(m.Close)
	s := bgp.SessionConfig{Name: "full-table", Address: tf.Watcher.RouterAddr, ASN: tf.Watcher.RouterASN,
		HoldTime: 90 * time.Second, ConnectRetry: time.Second}
	if err := m.Apply(context.Background(), class, bgp.Config{ASN: wASN, RouterID: rID, Pools: []netip.Prefix{watcherPool}, Sessions: []bgp.SessionConfig{s}}); err != nil {
		b.Fatal(err)
	}
	st := <-tf.Feeder.Streams()
	if st.Err != nil {
		b.Fatalf("feeding the watcher: %v", st.Err)
	}
	_, done := nextChangeUntil(b, m, func() bool { return len(m.Paths(class, last)) == 1 })
	meter.report(b, "watcher", done.Sub(st.Established))

	ss := m.Sessions(class)
	if len(ss) != 1 || ss[0].Received != total || ss[0].Accepted != inPools {
		b.Fatalf("after ingest: %+v, want %d received and %d accepted", ss, total, inPools)
	}
	frr.report(b)
}

// ingestMeter measures this process while the watcher ingests a table: its CPU
// time, its peak RSS (VmHWM, reset at the start) and that peak's growth over the
// RSS before, and the live heap once ingested.
type ingestMeter struct {
	base uint64
	cpu0 time.Duration
}

// startMeter collects garbage first, so the peak is the ingest's.
func startMeter(b *testing.B) *ingestMeter {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	base, _ := fabric.ProcStatusBytes(0, "VmRSS")
	if err := fabric.ResetPeakRSS(); err != nil {
		b.Fatal(err)
	}
	cpu0, _ := fabric.ProcCPUTime(0)
	return &ingestMeter{base: base, cpu0: cpu0}
}

// report reports the ingest's figures named after what ingested (took: its time).
func (m *ingestMeter) report(b *testing.B, name string, took time.Duration) {
	cpu, _ := fabric.ProcCPUTime(0)
	peak, _ := fabric.ProcStatusBytes(0, "VmHWM")
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	const mib = 1 << 20
	b.ReportMetric(took.Seconds(), name+"-s")
	b.ReportMetric((cpu - m.cpu0).Seconds(), name+"-cpu-s")
	b.ReportMetric(float64(peak)/mib, name+"-peak-rss-MiB")
	b.ReportMetric(float64(peak-min(m.base, peak))/mib, name+"-rss-growth-MiB")
	b.ReportMetric(float64(ms.HeapAlloc)/mib, name+"-live-heap-MiB")
}

// frrFigures are FRR bgpd's ingest of the table: from its session being
// established to counting every prefix, its CPU time meanwhile and its peak RSS.
type frrFigures struct {
	time, cpu time.Duration
	peakRSS   uint64
}

// frrIngest has FRR ingest the table fixture's full table, measures it and ends
// that bgpd (a bgpd dropping a million routes would compete with what follows).
func frrIngest(b *testing.B, tf *fabric.Table, total int) frrFigures {
	b.Helper()
	cpu0, err := tf.FRRCPUTime()
	if err != nil {
		b.Fatal(err)
	}
	if err := tf.StartFRR(); err != nil {
		b.Fatal(err)
	}
	st := <-tf.FRRFeeder.Streams()
	if st.Err != nil {
		b.Fatalf("feeding FRR: %v", st.Err)
	}
	done, err := tf.WaitFRRReceived(total, 10*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	out := frrFigures{time: done.Sub(st.Established)}
	if out.peakRSS, err = tf.FRRPeakRSS(); err != nil {
		b.Fatal(err)
	}
	cpu, err := tf.FRRCPUTime()
	if err != nil {
		b.Fatal(err)
	}
	out.cpu = cpu - cpu0
	if err := tf.KillFRR(); err != nil {
		b.Fatal(err)
	}
	return out
}

func (f frrFigures) report(b *testing.B) {
	b.ReportMetric(f.time.Seconds(), "frr-s")
	b.ReportMetric(f.cpu.Seconds(), "frr-cpu-s")
	b.ReportMetric(float64(f.peakRSS)/(1<<20), "frr-peak-rss-MiB")
}

// benchTable is n IPv4 prefixes: every thousandth a /32 in 10.255.0.0/16
// (the pool), the rest consecutive /24s from 11.0.0.0. The last is in the pool.
func benchTable(n int) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	next := uint32(11 << 24)
	for i := range n {
		if i%1000 == 999 {
			k := i / 1000
			out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 255, byte(k >> 8), byte(k)}), 32))
			continue
		}
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(next >> 24), byte(next >> 16), byte(next >> 8), 0}), 24))
		next += 256
	}
	return out
}

// nextChangeUntil reads Changes until done() holds after one, returning
// that Change and when it was delivered.
func nextChangeUntil(b *testing.B, m *bgp.Manager, done func() bool) (bgp.Change, time.Time) {
	b.Helper()
	deadline := time.After(10 * time.Minute)
	for {
		select {
		case c := <-m.Changes():
			at := time.Now()
			if done() {
				return c, at
			}
		case <-deadline:
			b.Fatal("no matching Change within 10 minutes")
		}
	}
}

func drain(m *bgp.Manager) {
	for {
		select {
		case <-m.Changes():
		default:
			return
		}
	}
}

func onlyOrigins(m *bgp.Manager, want ...uint32) bool {
	var got []uint32
	for _, p := range m.Paths(class, vip) {
		got = append(got, p.OriginAS)
	}
	slices.Sort(got)
	return slices.Equal(got, want)
}

func waitOrigins(b *testing.B, m *bgp.Manager, want ...uint32) {
	b.Helper()
	fabric.Eventually(b, converge, func() error {
		if !onlyOrigins(m, want...) {
			return errOrigins
		}
		return nil
	})
}

var errOrigins = errors.New("origins not (yet) as expected")

func discardLog() logr.Logger { return logr.Discard() }

// percentile is the nearest-rank percentile, in milliseconds.
func percentile(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(0, int(math.Ceil(p/100*float64(len(s))))-1)
	return float64(s[i]) / float64(time.Millisecond)
}
