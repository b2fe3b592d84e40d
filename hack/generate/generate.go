// Package generate writes the packaging files that are derived from other files of the
// repository, so that they can never drift by hand:
//
//   - charts/anycast-operator/crds/*.yaml: copies of config/crd/bases/*.yaml;
//   - charts/anycast-operator/templates/hub/rbac.yaml: the hub's RBAC, templated from the
//     controller-gen output config/rbac/role.yaml;
//   - docs/api.md: the API reference, from the CRD OpenAPI schemas (whose descriptions are
//     the Go doc comments of api/v1alpha1);
//   - config/argocd/anycast.dev/<Kind>/health.lua, config/argocd/argocd-cm.yaml and
//     config/argocd/argo-cd-values.yaml: the ArgoCD health checks, from the one script
//     config/argocd/health.lua.
//
// `go run ./hack/gen` (make packaging-generate) writes them; test/packaging fails when a
// committed file differs from what Files returns.
package generate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Group names a set of generated files.
type Group string

// The groups of generated files.
const (
	GroupChart   Group = "chart"
	GroupAPIDocs Group = "api-docs"
	GroupArgoCD  Group = "argocd"
)

// AllGroups lists every group, in generation order.
var AllGroups = []Group{GroupChart, GroupAPIDocs, GroupArgoCD}

// Paths of inputs and outputs, relative to the repository root.
const (
	CRDBasesDir     = "config/crd/bases"
	RoleYAML        = "config/rbac/role.yaml"
	ChartDir        = "charts/anycast-operator"
	ChartCRDsDir    = ChartDir + "/crds"
	ChartHubRBAC    = ChartDir + "/templates/hub/rbac.yaml"
	APIDocs         = "docs/api.md"
	ArgoCDDir       = "config/argocd"
	ArgoCDConfigMap = ArgoCDDir + "/argocd-cm.yaml"
	// ArgoCDSource is the one health check script of every anycast.dev kind.
	ArgoCDSource = ArgoCDDir + "/health.lua"
	ArgoCDValues = ArgoCDDir + "/argo-cd-values.yaml"
)

// Files returns the generated files of the given groups (all when none), keyed by slash
// path relative to root.
func Files(root string, groups ...Group) (map[string][]byte, error) {
	if len(groups) == 0 {
		groups = AllGroups
	}
	out := map[string][]byte{}
	for _, g := range groups {
		var files map[string][]byte
		var err error
		switch g {
		case GroupChart:
			files, err = chartFiles(root)
		case GroupAPIDocs:
			var b []byte
			b, err = APIReference(root)
			files = map[string][]byte{APIDocs: b}
		case GroupArgoCD:
			files, err = argoCDFiles(root)
		default:
			return nil, fmt.Errorf("unknown group %q (want one of %v)", g, AllGroups)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		for k, v := range files {
			out[k] = v
		}
	}
	return out, nil
}

// Write writes the generated files of the given groups and removes chart CRD copies whose
// source is gone.
func Write(root string, groups ...Group) error {
	files, err := Files(root, groups...)
	if err != nil {
		return err
	}
	for _, p := range sortedKeys(files) {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	for _, extra := range extraChartCRDs(root, files) {
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(extra))); err != nil {
			return err
		}
	}
	return nil
}

// Stale lists, one message each, the generated files that differ from what the generators
// produce now (missing, different, or a chart CRD without a source).
func Stale(root string, groups ...Group) ([]string, error) {
	files, err := Files(root, groups...)
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, p := range sortedKeys(files) {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		switch {
		case os.IsNotExist(err):
			stale = append(stale, p+": missing")
		case err != nil:
			return nil, err
		case !bytes.Equal(got, files[p]):
			stale = append(stale, p+": differs from its source")
		}
	}
	for _, extra := range extraChartCRDs(root, files) {
		stale = append(stale, extra+": no such CRD in "+CRDBasesDir)
	}
	return stale, nil
}

// extraChartCRDs lists chart CRD files that no source produces (only when the chart group
// was generated).
func extraChartCRDs(root string, files map[string][]byte) []string {
	if _, ok := files[ChartHubRBAC]; !ok {
		return nil
	}
	have, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(ChartCRDsDir), "*"))
	var extra []string
	for _, h := range have {
		p := ChartCRDsDir + "/" + filepath.Base(h)
		if _, ok := files[p]; !ok {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	return extra
}

func chartFiles(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	crds, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(CRDBasesDir), "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", CRDBasesDir)
	}
	for _, c := range crds {
		b, err := os.ReadFile(c)
		if err != nil {
			return nil, err
		}
		out[ChartCRDsDir+"/"+filepath.Base(c)] = b
	}
	role, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(RoleYAML)))
	if err != nil {
		return nil, err
	}
	rbac, err := HubRBACTemplate(role)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RoleYAML, err)
	}
	out[ChartHubRBAC] = rbac
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// splitYAML splits a multi-document YAML stream on "---" lines, dropping empty documents.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range strings.Split("\n"+string(b), "\n---") {
		d = strings.TrimPrefix(d, "\n")
		if strings.TrimSpace(stripComments(d)) == "" {
			continue
		}
		docs = append(docs, []byte(d))
	}
	return docs
}

func stripComments(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}
