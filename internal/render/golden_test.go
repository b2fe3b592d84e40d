package render

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

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current renderer")

// goldenCases lists testdata/<case>.in.yaml files.
func goldenCases(t testing.TB) []string {
	t.Helper()
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) < 12 {
		t.Fatalf("want at least 12 golden cases, found %d", len(ins))
	}
	return ins
}

// LoadInput reads a golden input strictly: an unknown field is an error, not a silent drop.
func loadInput(t testing.TB, path string) Input {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ParseInput(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return in
}

func TestGolden(t *testing.T) {
	for _, inPath := range goldenCases(t) {
		name := strings.TrimSuffix(filepath.Base(inPath), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			in := loadInput(t, inPath)
			got, err := yaml.Marshal(Render(in))
			if err != nil {
				t.Fatal(err)
			}
			outPath := strings.TrimSuffix(inPath, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(outPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("%v (run: go test ./internal/render -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render output differs from %s (rerun with -update and review the diff):\n%s", outPath, lineDiff(string(want), string(got)))
			}
		})
	}
}

// TestRenderIsDeterministic renders every case twice from fresh parses: map iteration or
// shared state must never change the output.
func TestRenderIsDeterministic(t *testing.T) {
	for _, inPath := range goldenCases(t) {
		a, _ := yaml.Marshal(Render(loadInput(t, inPath)))
		b, _ := yaml.Marshal(Render(loadInput(t, inPath)))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renders differ", inPath)
		}
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
			if shown++; shown == 10 {
				break
			}
		}
	}
	return b.String()
}
