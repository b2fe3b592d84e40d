// Package scale_test measures the operator with many AnycastIngresses on one class with
// two members: west (the hub, where the operator runs) and east (reached through its
// kubeconfig Secret), two real API servers with every CRD installed. The operator runs in
// this process, built by operator.New exactly as the binary builds it (no client-side
// rate limit on the hub, as ctrl.GetConfig; member clients as the registry makes them),
// with a transport wrapper counting every request it makes.
//
// BenchmarkIngresses1000 is the figure of issue 8 (`make bench`); TestScaleSmoke runs the
// same scenario with 20 ingresses in `make test` so the benchmark cannot rot.
package scale_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/anycast-operator/anycast-operator/test/scale/apicount"
)

func TestMain(m *testing.M) {
	level := zapcore.ErrorLevel
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		level = zapcore.Level(-2)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
	os.Exit(m.Run())
}

// TestScaleSmoke: the benchmark's scenario with 20 ingresses: all Programmed, every
// member holding exactly what the ingresses render, and a periodic resync and a restart
// of the operator that write nothing.
func TestScaleSmoke(t *testing.T) {
	f := run(t, params{ingresses: 20, namespaces: 4, syncPeriod: 15 * time.Second})
	f.log(t)
	if f.resyncWrites != 0 || f.restartWrites != 0 {
		t.Errorf("a steady-state resync wrote %d times, a restart %d times; want 0", f.resyncWrites, f.restartWrites)
	}
}

// BenchmarkIngresses1000: 1,000 AnycastIngresses (ten namespaces, addresses allocated from
// the class pool, one route each) on one class with two members. Reports the time until
// all are Programmed, the operator's peak RSS, API requests per ingress, and the writes
// of a steady-state resync of all 1,000 (periodic, then after a restart). Targets (issue
// 8): under 60 s, under 300 MiB, zero writes. BENCH_PROFILE=DIR writes CPU and heap
// profiles of the programming phase there.
func BenchmarkIngresses1000(b *testing.B) {
	f := run(b, params{ingresses: 1000, namespaces: 10, syncPeriod: 3 * time.Minute, profileDir: os.Getenv("BENCH_PROFILE")})
	f.log(b)
	b.ReportMetric(f.programmed.Seconds(), "s-to-programmed")
	b.ReportMetric(float64(f.peakRSS)/(1<<20), "MiB-peak-RSS")
	b.ReportMetric(float64(f.peakHeap)/(1<<20), "MiB-peak-heap")
	b.ReportMetric(f.requestsPerIngress(), "requests/ingress")
	b.ReportMetric(float64(f.resyncWrites), "resync-writes")
	b.ReportMetric(float64(f.restartWrites), "restart-writes")
	if f.programmed > 60*time.Second {
		b.Logf("TARGET MISSED: %s to Programmed (target 60 s)", f.programmed.Round(time.Second))
	}
	if f.peakRSS > 300<<20 {
		b.Logf("TARGET MISSED: peak RSS %d MiB (target 300 MiB)", f.peakRSS>>20)
	}
	if f.resyncWrites != 0 || f.restartWrites != 0 {
		b.Errorf("a steady-state resync wrote %d times, a restart %d times; want 0", f.resyncWrites, f.restartWrites)
	}
}

// figures are what one run measured.
type figures struct {
	n                              int
	create, programmed             time.Duration
	baseRSS, peakRSS, peakHeap     uint64
	operatorCPU, apiCPU            time.Duration
	apiCPUBy                       map[string]time.Duration
	programReconciles              int
	requests                       int
	byVerb, byCluster              []apicount.Row
	resyncReconciles, resyncWrites int
	resyncTook                     time.Duration
	resyncRequests                 int
	restartReconciles              int
	restartWrites, restartRequests int
	restartTook                    time.Duration
	objectsWest, objectsEast       int
}

func (f *figures) requestsPerIngress() float64 { return float64(f.requests) / float64(f.n) }

// logProgramming logs the figures of the programming phase as soon as they are known.
func (f *figures) logProgramming(tb testing.TB) {
	var b strings.Builder
	f.programmingTable(&b)
	tb.Log(b.String())
}

func (f *figures) log(tb testing.TB) {
	var b strings.Builder
	f.programmingTable(&b)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-52s %s\n", k, v) }
	row("steady state: ingress reconciles / writes / requests", fmt.Sprintf("%d / %d / %d (over %s, one SyncPeriod and more)", f.resyncReconciles, f.resyncWrites, f.resyncRequests, f.resyncTook.Round(time.Millisecond)))
	row("restart: ingress reconciles / writes / requests", fmt.Sprintf("%d / %d / %d (first %d reconciles in %s)", f.restartReconciles, f.restartWrites, f.restartRequests, f.n, f.restartTook.Round(time.Millisecond)))
	tb.Log(b.String())
}

func (f *figures) programmingTable(b *strings.Builder) {
	row := func(k, v string) { fmt.Fprintf(b, "  %-52s %s\n", k, v) }
	fmt.Fprintf(b, "\n%d AnycastIngresses, one class, two members (west local, east by kubeconfig):\n", f.n)
	row("create all (test client)", f.create.Round(time.Millisecond).String())
	row("first create -> all Programmed", f.programmed.Round(time.Millisecond).String())
	row("objects on west / east (labelled)", fmt.Sprintf("%d / %d", f.objectsWest, f.objectsEast))
	row("test process peak RSS (VmHWM, reset at start)", fmt.Sprintf("%.0f MiB (RSS before the operator started: %.0f MiB)", mib(f.peakRSS), mib(f.baseRSS)))
	row("Go heap in use, peak (MemStats, sampled 100 ms)", fmt.Sprintf("%.0f MiB", mib(f.peakHeap)))
	row("CPU: test process (operator) / API servers+etcd", fmt.Sprintf("%s / %s", f.operatorCPU.Round(time.Millisecond), f.apiCPU.Round(time.Millisecond)))
	names := make([]string, 0, len(f.apiCPUBy))
	for name := range f.apiCPUBy {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		row("  "+name+" (both clusters)", f.apiCPUBy[name].Round(time.Millisecond).String())
	}
	row("ingress reconciles until Programmed", fmt.Sprintf("%d (%.1f per ingress)", f.programReconciles, float64(f.programReconciles)/float64(f.n)))
	row("API requests until Programmed", fmt.Sprintf("%d (%.1f per ingress)", f.requests, f.requestsPerIngress()))
	for _, r := range f.byVerb {
		row("  "+r.Key, fmt.Sprintf("%d (%.2f per ingress)", r.Count, float64(r.Count)/float64(f.n)))
	}
	for _, r := range f.byCluster {
		row("  cluster "+r.Key, fmt.Sprint(r.Count))
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// params shape one run.
type params struct {
	ingresses, namespaces int
	syncPeriod            time.Duration
	profileDir            string
}

// heapSampler records the peak of the Go heap.
type heapSampler struct {
	mu   sync.Mutex
	peak uint64
	stop chan struct{}
	done chan struct{}
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			h.mu.Lock()
			if ms.HeapInuse > h.peak {
				h.peak = ms.HeapInuse
			}
			h.mu.Unlock()
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Peak() uint64 {
	close(h.stop)
	<-h.done
	return h.peak
}

// startProfile profiles this process (the operator) until the returned func is called,
// and each API server for its first 30 s (kube-apiserver's own /debug/pprof), to
// apiserver-<name>.pprof.
func startProfile(dir string, apiServers map[string]*rest.Config) func() {
	if dir == "" {
		return func() {}
	}
	_ = os.MkdirAll(dir, 0o755)
	for name, cfg := range apiServers {
		go func() {
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return
			}
			b, err := cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "30").
				Timeout(time.Minute).DoRaw(context.Background())
			if err == nil {
				_ = os.WriteFile(filepath.Join(dir, "apiserver-"+name+".pprof"), b, 0o644)
			}
		}()
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return func() {}
	}
	// heap-start.pprof: the allocations of the span are heap.pprof's minus these
	// (go tool pprof -sample_index=alloc_space -diff_base heap-start.pprof heap.pprof).
	// A heap profile counts allocations up to the last collection: one first.
	runtime.GC()
	if heap, err := os.Create(filepath.Join(dir, "heap-start.pprof")); err == nil {
		_ = pprof.Lookup("heap").WriteTo(heap, 0)
		_ = heap.Close()
	}
	_ = pprof.StartCPUProfile(cpu)
	// BENCH_TRACE=rest (the phases' names, comma-separated: program, rest; the last part
	// of dir without its "-N"): an execution trace of those phases too, which shows what
	// wakes the operator up (go tool trace -d=parsed prints each goroutine's wake-ups).
	var tr *os.File
	if phase, _, _ := strings.Cut(filepath.Base(dir), "-"); slices.Contains(strings.Split(os.Getenv("BENCH_TRACE"), ","), phase) {
		if tr, err = os.Create(filepath.Join(dir, "trace.out")); err == nil {
			_ = trace.Start(tr)
		}
	}
	return func() {
		if tr != nil {
			trace.Stop()
			_ = tr.Close()
		}
		pprof.StopCPUProfile()
		_ = cpu.Close()
		runtime.GC()
		if heap, err := os.Create(filepath.Join(dir, "heap.pprof")); err == nil {
			_ = pprof.Lookup("heap").WriteTo(heap, 0)
			_ = heap.Close()
		}
	}
}
