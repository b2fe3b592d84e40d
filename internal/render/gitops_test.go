package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/anycast-operator/anycast-operator/internal/owner"
)

// What GitOps tools put on the objects they apply. ArgoCD tracks its resources by the
// app.kubernetes.io/instance label (the default) or the argocd.argoproj.io/tracking-id
// annotation (annotation tracking); Flux by its kustomize/helm labels. A rendered child
// that copied one of them would be claimed by the owner's Application: shown as part of
// it, reported OutOfSync, and pruned by ArgoCD on the next sync.
// The values are distinctive so that a copy is found anywhere in a rendered object.
var gitopsLabels = map[string]string{
	"app.kubernetes.io/instance":            "gitops-app-7f3a",
	"argocd.argoproj.io/instance":           "gitops-app-7f3b",
	"kustomize.toolkit.fluxcd.io/name":      "gitops-flux-7f3c",
	"kustomize.toolkit.fluxcd.io/namespace": "gitops-flux-7f3d",
	"helm.toolkit.fluxcd.io/name":           "gitops-flux-7f3e",
	"example.com/team":                      "gitops-team-7f3f",
}

var gitopsAnnotations = map[string]string{
	"argocd.argoproj.io/tracking-id":                   "gitops-app-7f3a:anycast.dev/AnycastIngress:hello-world/hello",
	"argocd.argoproj.io/sync-options":                  "ServerSideApply=true",
	"argocd.argoproj.io/compare-options":               "IgnoreExtraneous",
	"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"anycast.dev/v1alpha1"}`,
}

// allowedChildLabels are the only labels a rendered object may carry: the owner labels,
// and on the Service the operator makes for a shared data plane, the gateway labels the
// VIP's pool admits.
var allowedChildLabels = map[string]bool{
	owner.ManagedByLabel: true, owner.KindLabel: true, owner.NameLabel: true,
	owner.NamespaceLabel: true, owner.ClassLabel: true,
	owner.GatewayLabel: true, owner.GatewayNamespaceLabel: true,
}

// TestRenderedChildrenCarryNoTrackingMetadata renders every golden input with the ArgoCD
// (and Flux) tracking label and annotation on both the AnycastClass and the AnycastIngress,
// and checks that no rendered child, on any member, carries them — in its metadata or
// anywhere else (a Gateway's spec.infrastructure labels and annotations are copied by
// implementations onto the Service they create).
func TestRenderedChildrenCarryNoTrackingMetadata(t *testing.T) {
	objects := 0
	for _, inPath := range goldenCases(t) {
		in := loadInput(t, inPath)
		in.Class.Labels = merge(in.Class.Labels, gitopsLabels)
		in.Class.Annotations = merge(in.Class.Annotations, gitopsAnnotations)
		if in.Ingress != nil {
			in.Ingress.Labels = merge(in.Ingress.Labels, gitopsLabels)
			in.Ingress.Annotations = merge(in.Ingress.Annotations, gitopsAnnotations)
		}
		out := Render(in)
		for _, c := range out.Clusters {
			for _, o := range c.Objects {
				objects++
				where := inPath + ": cluster " + c.Name + ": " + o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
				for k := range o.GetLabels() {
					if !allowedChildLabels[k] {
						t.Errorf("%s: label %s is not an owner label", where, k)
					}
				}
				for k := range o.GetAnnotations() {
					if _, copied := gitopsAnnotations[k]; copied || strings.Contains(k, "argocd.argoproj.io") {
						t.Errorf("%s: annotation %s copied from the owner", where, k)
					}
				}
				b, err := json.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range gitopsLabels {
					if strings.Contains(string(b), `"`+k+`"`) || strings.Contains(string(b), v) {
						t.Errorf("%s: carries the owner's label %s somewhere: %s", where, k, b)
					}
				}
				for k, v := range gitopsAnnotations {
					if strings.Contains(string(b), `"`+k+`"`) || strings.Contains(string(b), jsonEscape(v)) {
						t.Errorf("%s: carries the owner's annotation %s somewhere: %s", where, k, b)
					}
				}
			}
		}
	}
	if objects < 50 {
		t.Fatalf("only %d rendered objects checked: the golden inputs render too little for this test to mean anything", objects)
	}
	t.Logf("%d rendered objects checked", objects)
}

// TestOwnerLabelsAreStableUnderTracking: the tracking metadata changes nothing in what is
// rendered (so ArgoCD adopting or re-labelling the owner never causes a re-apply).
func TestOwnerLabelsAreStableUnderTracking(t *testing.T) {
	for _, inPath := range goldenCases(t) {
		plain, err := json.Marshal(Render(loadInput(t, inPath)))
		if err != nil {
			t.Fatal(err)
		}
		in := loadInput(t, inPath)
		in.Class.Labels = merge(in.Class.Labels, gitopsLabels)
		in.Class.Annotations = merge(in.Class.Annotations, gitopsAnnotations)
		if in.Ingress != nil {
			in.Ingress.Labels = merge(in.Ingress.Labels, gitopsLabels)
			in.Ingress.Annotations = merge(in.Ingress.Annotations, gitopsAnnotations)
		}
		tracked, err := json.Marshal(Render(in))
		if err != nil {
			t.Fatal(err)
		}
		if string(plain) != string(tracked) {
			t.Errorf("%s: adding tracking labels and annotations to the owners changed the render", inPath)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}
