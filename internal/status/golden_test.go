package status

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// TestGolden computes the status of every testdata/*.in.yaml observation and compares it
// with testdata/*.out.yaml. `go test ./internal/status -run TestGolden -update` rewrites
// the outputs; review the diff.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) < 15 {
		t.Fatalf("only %d golden cases", len(ins))
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var obs Observation
			if err := yaml.UnmarshalStrict(b, &obs); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			got, err := yaml.Marshal(Ingress(&obs))
			if err != nil {
				t.Fatal(err)
			}
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", name, out, diff(string(want), string(got)))
			}
			// The same observation gives the same status twice: nothing depends on map
			// order or the clock.
			again, _ := yaml.Marshal(Ingress(&obs))
			if !bytes.Equal(got, again) {
				t.Errorf("%s: two computations differ", name)
			}
		})
	}
}

// diff lists the lines that differ, for a readable failure.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, "line "+itoa(i+1)+":\n  want: "+a+"\n  got:  "+b)
		}
		if len(out) > 20 {
			break
		}
	}
	return strings.Join(out, "\n")
}

func itoa(i int) string { return strconv.Itoa(i) }
