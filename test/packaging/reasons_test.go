package packaging

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// successReasons are reasons of conditions that are True: they need no troubleshooting
// section of their own (docs/troubleshooting.md lists them in a table) and no ArgoCD
// classification (a True Ready is Healthy whatever its reason).
var successReasons = map[string]bool{
	"Accepted": true, "Programmed": true, "Ready": true, "AllReachable": true, "Reachable": true,
	"Linked": true, "NoCrossClusterServices": true, "Advertised": true, "Established": true,
	"Withdrawn": true, "MetalLBConfigValid": true,
}

// conditionReasons collects the condition reasons the operator's code defines: string
// constants named Reason*, string literals passed as the reason of a condition set
// (x.set(type, status, "Reason", ...)), and Reason: "..." fields.
func conditionReasons(t *testing.T) map[string]string {
	t.Helper()
	reasons := map[string]string{}
	fset := token.NewFileSet()
	camel := regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	add := func(v, where string) {
		if camel.MatchString(v) {
			if _, ok := reasons[v]; !ok {
				reasons[v] = where
			}
		}
	}
	for _, dir := range []string{"internal", "api"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.ValueSpec:
					for i, name := range x.Names {
						if strings.HasPrefix(name.Name, "Reason") && i < len(x.Values) {
							if s, ok := stringLit(x.Values[i]); ok {
								add(s, rel)
							}
						}
					}
				case *ast.CallExpr:
					if sel, ok := x.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "set" || sel.Sel.Name == "setStatus") && len(x.Args) >= 3 {
						if s, ok := stringLit(x.Args[2]); ok {
							add(s, rel)
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := x.Key.(*ast.Ident); ok && k.Name == "Reason" {
						if s, ok := stringLit(x.Value); ok {
							add(s, rel)
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(reasons) < 10 {
		t.Fatalf("found only %d reasons in the source: the scan is broken", len(reasons))
	}
	return reasons
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// The reasons the issue names; they must exist in the docs whatever the code says today.
var documentedReasons = []string{
	"AddressInUse", "ClassNotFound", "NamespaceNotAllowed", "UnsupportedByMetalLBMode", "NameConflict",
	"MemberUnavailable", "PartiallyProgrammed", "ApplyFailed", "InUse", "PasswordSecretNotFound",
	"AddressNotInPool", "PoolExhausted", "Unreachable", "Pending",
}

// TestEveryReasonIsDocumented: docs/troubleshooting.md has a section for every failure
// reason the code defines (and every reason the issue lists), and mentions every success
// reason.
func TestEveryReasonIsDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	reasons := conditionReasons(t)
	for _, r := range documentedReasons {
		if _, ok := reasons[r]; !ok {
			reasons[r] = "the issue"
		}
	}
	for _, r := range sortedReasonKeys(reasons) {
		if successReasons[r] {
			if !strings.Contains(doc, "`"+r+"`") {
				t.Errorf("docs/troubleshooting.md does not mention the reason %s (from %s)", r, reasons[r])
			}
			continue
		}
		if !strings.Contains(doc, "\n### `"+r+"`") {
			t.Errorf("docs/troubleshooting.md has no section \"### `%s`\" for the reason from %s: say what it means, what to check and what to do", r, reasons[r])
		}
	}
}

// TestEveryReasonIsClassifiedForArgoCD: the ArgoCD health check lists every failure reason
// as in progress or as needing a person, so that a new reason is a decision, not an
// accident of the default.
func TestEveryReasonIsClassifiedForArgoCD(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config", "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	tables := map[string]map[string]bool{}
	for _, name := range []string{"inProgress", "needsPerson"} {
		m := regexp.MustCompile(`(?s)local ` + name + ` = \{(.*?)\n\}`).FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("health.lua has no table %s", name)
		}
		tables[name] = map[string]bool{}
		for _, k := range regexp.MustCompile(`(?m)^\s*([A-Za-z0-9]+) = true`).FindAllStringSubmatch(m[1], -1) {
			tables[name][k[1]] = true
		}
	}
	reasons := conditionReasons(t)
	for _, r := range documentedReasons {
		reasons[r] = "the issue"
	}
	for _, r := range sortedReasonKeys(reasons) {
		if successReasons[r] {
			continue
		}
		in, needs := tables["inProgress"][r], tables["needsPerson"][r]
		switch {
		case in && needs:
			t.Errorf("health.lua lists %s both as in progress and as needing a person", r)
		case !in && !needs:
			t.Errorf("health.lua does not classify the reason %s (from %s): add it to inProgress or needsPerson in config/argocd/health.lua (the one script of every kind), then `make packaging-generate`", r, reasons[r])
		}
	}
}

func sortedReasonKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
