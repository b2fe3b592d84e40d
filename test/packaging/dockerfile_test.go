package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what a machine without a Docker engine can check of the image
// build: it is multi-stage, builds the same static binary as `make build`, ships it alone
// on distroless as a non-root user, and copies every directory of this module the binary's
// packages live in (a new top-level package directory would otherwise break only the
// image build).
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM\s+(.*)$`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("%d FROM lines: want a build stage and a runtime stage", len(froms))
	}
	if last := froms[len(froms)-1][1]; !strings.HasPrefix(last, "gcr.io/distroless/static") || !strings.Contains(last, "nonroot") {
		t.Errorf("runtime stage %q: want gcr.io/distroless/static:nonroot", last)
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || users[len(users)-1][1] != "65532:65532" {
		t.Errorf("the image must run as the numeric non-root user 65532:65532 (runAsNonRoot needs a numeric USER)")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w`, "./cmd/anycast-operator", "GOTOOLCHAIN=local"} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile does not build with %s", want)
		}
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), `CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w`) {
		t.Errorf("make build no longer builds the binary the image ships (CGO_ENABLED=0, -trimpath, -s -w)")
	}
	// Every directory holding a package of this module that the binary imports is copied.
	copied := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^COPY\s+([^-\s]\S*)/\s`).FindAllStringSubmatch(df, -1) {
		copied[m[1]] = true
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./cmd/anycast-operator")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		if !copied[top] {
			t.Errorf("the binary needs %s, but the Dockerfile does not COPY %s/", rel, top)
		}
	}
	// The build context keeps them.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for top := range copied {
		for _, l := range strings.Split(string(ignore), "\n") {
			if strings.TrimSuffix(strings.TrimSpace(l), "/") == top {
				t.Errorf(".dockerignore excludes %s/, which the Dockerfile copies", top)
			}
		}
	}
}
