package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/ipam"
	"github.com/anycast-operator/anycast-operator/internal/render"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const renderUsage = `Usage: anycast-operator render -f FILE [-f FILE...] [flags]

Prints, per member cluster, the objects the operator would apply for the AnycastClass and
AnycastIngress manifests in FILE ("-" reads stdin), and the BGP watcher sessions a class
asks for, without contacting any cluster. The Secrets that HTTPS listeners name (as the
hub holds them) may be given as manifests too, for a class that copies certificates from
the hub; their data is redacted in the output. A file may also hold a render input
(class, ingress, observed) as used by the golden tests.
Exits 1 when something would not be applied, saying why.

Flags:
`

// renderCmd implements `anycast-operator render`.
func renderCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, renderUsage); fs.PrintDefaults() }
	var files, nsLabels stringList
	fs.Var(&files, "f", "manifest file to read (repeatable; - for stdin)")
	cluster := fs.String("cluster", "", "print only this member's objects")
	showSecrets := fs.Bool("show-secrets", false, "print Secret data and Skupper token codes instead of redacting them")
	fs.Var(&nsLabels, "namespace-label", "NAMESPACE:KEY=VALUE label of an ingress namespace, for classes that admit namespaces by selector (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "render: at least one -f FILE is required")
		fs.Usage()
		return 2
	}
	labels, err := parseNamespaceLabels(nsLabels)
	if err != nil {
		fmt.Fprintln(stderr, "render:", err)
		return 2
	}
	var inputs []document
	for _, f := range files {
		in, err := readInputs(f, stdinOrFile)
		if err != nil {
			fmt.Fprintf(stderr, "render: %s: %v\n", f, err)
			return 1
		}
		inputs = append(inputs, in...)
	}
	jobs, err := resolveManifests(inputs, labels)
	if err != nil {
		fmt.Fprintln(stderr, "render:", err)
		return 1
	}
	failed := false
	for _, j := range jobs {
		out := j.render()
		for _, p := range out.AllProblems() {
			failed = true
			fmt.Fprintf(stderr, "render: %s: %s\n", j.scope(), p.Error())
		}
		for _, co := range out.Clusters {
			if *cluster != "" && co.Name != *cluster {
				continue
			}
			for _, obj := range co.Objects {
				if !*showSecrets {
					obj = redact(obj)
				}
				b, err := yaml.Marshal(obj.Object)
				if err != nil {
					fmt.Fprintln(stderr, "render:", err)
					return 1
				}
				fmt.Fprintf(stdout, "---\n# cluster: %s\n%s", co.Name, b)
			}
		}
		for _, p := range out.WatcherProblems {
			failed = true
			fmt.Fprintf(stderr, "render: %s: watcher: %s\n", j.scope(), p.Error())
		}
		if out.Watcher != nil && !j.ingressOnly && *cluster == "" {
			b, err := yaml.Marshal(out.Watcher)
			if err != nil {
				fmt.Fprintln(stderr, "render:", err)
				return 1
			}
			fmt.Fprintf(stdout, "---\n# watcher of class %s: receive-only BGP sessions run by the operator (passwords are read from its namespace, never printed)\n%s", j.in.Class.Name, b)
		}
	}
	if failed {
		return 1
	}
	return 0
}

func stdinOrFile(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// document is one YAML document read: a manifest (a class or an ingress alone), or a
// complete render input as the golden tests use.
type document struct {
	in       render.Input
	complete bool
	// secret is a Secret manifest: the certificate an HTTPS listener names, as the hub
	// holds it, for a class that copies certificates from the hub.
	secret *corev1.Secret
}

// readInputs reads the documents of one file: AnycastClass and AnycastIngress manifests,
// or render inputs. Unknown fields are errors, so a misspelt setting is never ignored.
func readInputs(name string, read func(string) ([]byte, error)) ([]document, error) {
	b, err := read(name)
	if err != nil {
		return nil, err
	}
	var out []document
	docs := splitDocuments(b)
	for i, doc := range docs {
		var head struct {
			Kind       string      `json:"kind"`
			APIVersion string      `json:"apiVersion"`
			Class      interface{} `json:"class"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		switch {
		case head.Kind == "AnycastClass":
			c := &v1alpha1.AnycastClass{}
			if err := strictKind(doc, c, head.APIVersion); err != nil {
				return nil, fmt.Errorf("document %d (AnycastClass): %w", i+1, err)
			}
			out = append(out, document{in: render.Input{Class: *c}})
		case head.Kind == "AnycastIngress":
			ing := &v1alpha1.AnycastIngress{}
			if err := strictKind(doc, ing, head.APIVersion); err != nil {
				return nil, fmt.Errorf("document %d (AnycastIngress): %w", i+1, err)
			}
			out = append(out, document{in: render.Input{Ingress: ing}})
		case head.Kind == "Secret" && head.APIVersion == "v1":
			sec := &corev1.Secret{}
			if err := yaml.UnmarshalStrict(doc, sec); err != nil {
				return nil, fmt.Errorf("document %d (Secret): %w", i+1, err)
			}
			if sec.Namespace == "" {
				sec.Namespace = "default"
			}
			for k, v := range sec.StringData {
				if sec.Data == nil {
					sec.Data = map[string][]byte{}
				}
				sec.Data[k] = []byte(v)
			}
			out = append(out, document{secret: sec})
		case head.Kind == "" && head.Class != nil:
			in, err := render.ParseInput(doc)
			if err != nil {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			out = append(out, document{in: in, complete: true})
		case head.Kind == "":
			return nil, fmt.Errorf("document %d has no kind", i+1)
		default:
			return nil, fmt.Errorf("document %d is a %s; render reads AnycastClass, AnycastIngress and the Secrets HTTPS listeners name", i+1, head.Kind)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no documents")
	}
	return out, nil
}

func strictKind(doc []byte, into interface{}, apiVersion string) error {
	if apiVersion != v1alpha1.GroupVersion.String() {
		return fmt.Errorf("apiVersion %q, want %s", apiVersion, v1alpha1.GroupVersion.String())
	}
	return yaml.UnmarshalStrict(doc, into)
}

// splitDocuments splits multi-document YAML, dropping empty documents.
func splitDocuments(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		// A separator line may carry a comment ("--- # west").
		if i := bytes.IndexByte(part, '\n'); i >= 0 && bytes.HasPrefix(bytes.TrimSpace(part[:i]), []byte("#")) {
			part = part[i:]
		}
		if len(bytes.TrimSpace(stripComments(part))) > 0 {
			out = append(out, part)
		}
	}
	return out
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// job is one render the command prints.
type job struct {
	in render.Input
	// ingressOnly renders only the ingress's objects (and its namespace's Skupper
	// network): its class's objects are printed by the class's own job.
	ingressOnly bool
}

func (j job) render() *render.Output {
	if !j.ingressOnly {
		return render.Render(j.in)
	}
	out := render.RenderIngress(&j.in.Class, j.in.Ingress, &j.in.Observed)
	if len(out.Problems) == 0 && render.NeedsSkupper(j.in.Ingress) {
		net := render.RenderSkupperNetwork(&j.in.Class, j.in.Ingress.Namespace, &j.in.Observed)
		for _, nc := range net.Clusters {
			if co := out.Cluster(nc.Name); co != nil && len(co.Refusals) == 0 {
				co.Objects = append(co.Objects, nc.Objects...)
			}
		}
	}
	return out
}

func (j job) scope() string {
	if j.in.Ingress != nil {
		return "AnycastIngress " + j.in.Ingress.Namespace + "/" + j.in.Ingress.Name
	}
	return "AnycastClass " + j.in.Class.Name
}

// resolveManifests pairs ingresses with their classes, allocates addresses for ingresses
// without one, and refuses a VIP claimed twice, as the controller would.
func resolveManifests(docs []document, nsLabels map[string]map[string]string) ([]job, error) {
	classes := map[string]v1alpha1.AnycastClass{}
	var ingresses []*v1alpha1.AnycastIngress
	var out []job
	secrets := map[string]*corev1.Secret{}
	for _, d := range docs {
		switch {
		case d.secret != nil:
			secrets[d.secret.Namespace+"/"+d.secret.Name] = d.secret
		case d.complete:
			out = append(out, job{in: d.in})
		case d.in.Ingress != nil:
			ingresses = append(ingresses, d.in.Ingress)
		default:
			if _, dup := classes[d.in.Class.Name]; dup {
				return nil, fmt.Errorf("AnycastClass %q is defined twice", d.in.Class.Name)
			}
			classes[d.in.Class.Name] = d.in.Class
		}
	}
	byClass := map[string][]v1alpha1.AnycastIngress{}
	for _, ing := range ingresses {
		if ing.Namespace == "" {
			ing.Namespace = "default"
		}
		if _, ok := classes[ing.Spec.ClassName]; !ok {
			return nil, fmt.Errorf("AnycastIngress %s/%s names class %q, which is not in the files", ing.Namespace, ing.Name, ing.Spec.ClassName)
		}
		byClass[ing.Spec.ClassName] = append(byClass[ing.Spec.ClassName], *ing)
	}
	names := make([]string, 0, len(classes))
	for n := range classes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		class := classes[name]
		out = append(out, job{in: render.Input{Class: class}})
		all := byClass[name]
		// The controller's own decision, over the ingresses of the files.
		index := ipam.IndexOf(all)
		for i := range all {
			ing := &all[i]
			addr, refusal := index.Resolve(&class, ing)
			if refusal != nil {
				return nil, fmt.Errorf("AnycastIngress %s/%s: %s", ing.Namespace, ing.Name, refusal.Message)
			}
			ing.Status.Address = addr.String()
			labels := map[string]string{"kubernetes.io/metadata.name": ing.Namespace}
			for k, v := range nsLabels[ing.Namespace] {
				labels[k] = v
			}
			// The Secrets its HTTPS listeners name, as the files hold them (a missing one is
			// refused as on the hub).
			var certs map[string]render.CertificateSecret
			for _, ref := range render.CertificateRefs(ing) {
				if sec, ok := secrets[ing.Namespace+"/"+ref]; ok {
					if certs == nil {
						certs = map[string]render.CertificateSecret{}
					}
					certs[ref] = render.CertificateSecret{Type: string(sec.Type), Data: sec.Data}
				}
			}
			out = append(out, job{ingressOnly: true, in: render.Input{
				Class: class, Ingress: ing,
				Observed: render.Observed{Address: addr.String(), NamespaceLabels: labels, Certificates: certs},
			}})
		}
	}
	return out, nil
}

func parseNamespaceLabels(specs []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, s := range specs {
		ns, kv, ok := strings.Cut(s, ":")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || ns == "" || k == "" {
			return nil, fmt.Errorf("--namespace-label %q: want NAMESPACE:KEY=VALUE", s)
		}
		if out[ns] == nil {
			out[ns] = map[string]string{}
		}
		out[ns][k] = v
	}
	return out, nil
}

// redact hides secret values: Secret data and Skupper token codes.
func redact(obj *unstructured.Unstructured) *unstructured.Unstructured {
	switch obj.GetKind() {
	case "Secret":
		c := obj.DeepCopy()
		if data, ok := c.Object["data"].(map[string]interface{}); ok {
			for k := range data {
				data[k] = "<redacted: use --show-secrets>"
			}
		}
		return c
	case "AccessToken":
		c := obj.DeepCopy()
		if _, ok, _ := unstructured.NestedString(c.Object, "spec", "code"); ok {
			_ = unstructured.SetNestedField(c.Object, "<redacted: use --show-secrets>", "spec", "code")
		}
		return c
	}
	return obj
}
