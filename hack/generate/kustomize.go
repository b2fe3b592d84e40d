package generate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// OperatorImage is the image name config/manager sets (its images transformer replaces the
// placeholder "controller" with it); Kustomize's image override matches on it.
const OperatorImage = "ghcr.io/anycast-operator/anycast-operator"

// Kustomize builds a kustomization directory as `kubectl kustomize DIR` does. When image
// is set (REPOSITORY[:TAG][@DIGEST]), the operator image is replaced by it, through a
// temporary overlay: nothing in the repository is edited.
func Kustomize(dir, image string) ([]byte, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	target := dir
	if image != "" {
		name, tag, digest, err := splitImage(image)
		if err != nil {
			return nil, err
		}
		overlay, err := os.MkdirTemp("", "kustomize-overlay-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(overlay)
		// Kustomize refuses absolute resource paths.
		rel, err := filepath.Rel(overlay, dir)
		if err != nil {
			return nil, err
		}
		k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\nimages:\n- name: %s\n  newName: %s\n", filepath.ToSlash(rel), OperatorImage, name)
		if tag != "" {
			k += "  newTag: " + quote(tag) + "\n"
		}
		if digest != "" {
			k += "  digest: " + digest + "\n"
		}
		if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o644); err != nil {
			return nil, err
		}
		target = overlay
	}
	opts := krusty.MakeDefaultOptions()
	// As `kubectl kustomize`: the legacy order (namespaces and CRDs first) unless the
	// kustomization sets sortOptions, so that `kubectl apply -f` of the output works.
	opts.Reorder = krusty.ReorderOptionUnspecified
	m, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), target)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return m.AsYaml()
}

// splitImage splits REPOSITORY[:TAG][@DIGEST]; a registry port (host:5000/x) is not a tag.
func splitImage(image string) (name, tag, digest string, err error) {
	name = image
	if i := strings.Index(name, "@"); i >= 0 {
		name, digest = name[:i], name[i+1:]
		if !strings.HasPrefix(digest, "sha256:") {
			return "", "", "", fmt.Errorf("image %q: the digest must be sha256:...", image)
		}
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return "", "", "", fmt.Errorf("image %q is not REPOSITORY[:TAG][@DIGEST]", image)
	}
	return name, tag, digest, nil
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
