package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/internal/scheme"
	"github.com/anycast-operator/anycast-operator/internal/statusview"
)

const statusUsage = `Usage: anycast-operator status [-n NAMESPACE | -A] [NAME] [flags]
       kubectl anycast [-n NAMESPACE | -A] [NAME] [flags]

Prints, from the hub's API alone, what the operator reports: each class's members and
their reachability, its watcher sessions and BMP routers, and each AnycastIngress's
conditions, per-member state and the paths the routers carry, with what is wrong first.
It only reads AnycastClasses and AnycastIngresses (get and list: the
anycast-operator-viewer ClusterRole is enough).

NAME is an AnycastIngress of the namespace (default: the kubeconfig context's). Without
NAME every ingress of the namespace is shown, with the classes they use; -A shows every
ingress and every class.

Installed as kubectl-anycast on the PATH (ln -s "$(command -v anycast-operator)"
~/bin/kubectl-anycast), it is the kubectl plugin "kubectl anycast".

Exit status: 0 printed (even when something is wrong: see "ok" in -o json), 1 the objects
could not be read (not found, no kubeconfig, API server unreachable, forbidden), 2 usage.

Flags:
`

type statusOptions struct {
	Namespace  string
	All        bool
	Name       string
	Output     string
	Kubeconfig string
	Context    string
	Color      string
	Timeout    time.Duration
}

// statusSource reads what the report is built from. The API server is one; the tests'
// files are another.
type statusSource interface {
	Ingress(ctx context.Context, namespace, name string) (*v1alpha1.AnycastIngress, error)
	Ingresses(ctx context.Context, namespace string) ([]v1alpha1.AnycastIngress, error)
	Class(ctx context.Context, name string) (*v1alpha1.AnycastClass, error)
	Classes(ctx context.Context) ([]v1alpha1.AnycastClass, error)
	// Where names the source in messages ("the API server at https://...").
	Where() string
}

// statusDeps are the seams the tests replace.
type statusDeps struct {
	// connect opens the source and says which namespace the kubeconfig context selects.
	connect    func(o statusOptions) (statusSource, string, error)
	isTerminal func(io.Writer) bool
	getenv     func(string) string
	now        func() time.Time
}

func defaultStatusDeps() statusDeps {
	return statusDeps{connect: connectAPI, isTerminal: isTerminal, getenv: os.Getenv, now: time.Now}
}

// pluginName is the name kubectl finds the plugin by: `kubectl anycast` runs
// kubectl-anycast from the PATH.
const pluginName = "kubectl-anycast"

// pluginArgs are the status command's arguments when run as the plugin: `kubectl anycast
// status ...` reads as `kubectl anycast ...` (an ingress named status is then
// `kubectl anycast status status`).
func pluginArgs(args []string) []string {
	if len(args) > 0 && args[0] == "status" {
		return args[1:]
	}
	return args
}

// isPlugin tells whether the binary runs as the kubectl plugin (a link named
// kubectl-anycast).
func isPlugin(argv0 string) bool {
	return strings.TrimSuffix(filepath.Base(argv0), ".exe") == pluginName
}

// statusCmd implements `anycast-operator status`.
func statusCmd(args []string, stdout, stderr io.Writer) int {
	return statusCmdWith(args, stdout, stderr, defaultStatusDeps())
}

func statusCmdWith(args []string, stdout, stderr io.Writer, deps statusDeps) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statusUsage); fs.PrintDefaults() }
	var o statusOptions
	fs.StringVar(&o.Namespace, "n", "", "namespace of the AnycastIngresses (default the kubeconfig context's)")
	fs.StringVar(&o.Namespace, "namespace", "", "same as -n")
	fs.BoolVar(&o.All, "A", false, "every AnycastIngress of every namespace, and every AnycastClass")
	fs.BoolVar(&o.All, "all-namespaces", false, "same as -A")
	fs.StringVar(&o.Output, "o", "text", "text, json or yaml (json and yaml: the structure docs/status-cli.md describes, not the raw objects)")
	fs.StringVar(&o.Output, "output", "text", "same as -o")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file of the hub (default $KUBECONFIG or ~/.kube/config, else in-cluster)")
	fs.StringVar(&o.Context, "context", "", "kubeconfig context of the hub (default the current one)")
	fs.StringVar(&o.Color, "color", "auto", "auto (only when stdout is a terminal and NO_COLOR is unset), always or never")
	fs.DurationVar(&o.Timeout, "request-timeout", 30*time.Second, "time limit of the calls to the API server")
	// kubectl users put flags after the name (kubectl anycast web -n team-a): parse on
	// after each argument.
	var names []string
	for rest := kubectlShorthand(args); ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "status:", msg)
		fmt.Fprintln(stderr, "Run 'anycast-operator status -h' for usage.")
		return 2
	}
	switch {
	case len(names) > 1:
		return usage(fmt.Sprintf("one AnycastIngress name at most, got %q", names))
	case len(names) == 1 && o.All:
		return usage("a NAME and -A do not go together: an ingress name is looked up in one namespace (-n)")
	case o.All && o.Namespace != "":
		return usage("-n and -A do not go together")
	}
	if len(names) == 1 {
		o.Name = names[0]
	}
	o.Output = strings.ToLower(o.Output)
	switch o.Output {
	case "text", "json", "yaml":
	default:
		return usage(fmt.Sprintf("unknown output format %q: text, json or yaml", o.Output))
	}
	var color bool
	switch o.Color {
	case "always":
		color = true
	case "never":
	case "auto":
		// https://no-color.org: a non-empty NO_COLOR turns colour off.
		color = deps.isTerminal(stdout) && deps.getenv("NO_COLOR") == "" && deps.getenv("TERM") != "dumb"
	default:
		return usage(fmt.Sprintf("unknown --color %q: auto, always or never", o.Color))
	}

	src, ns, err := deps.connect(o)
	if err != nil {
		fmt.Fprintln(stderr, "status:", err)
		return 1
	}
	if o.Namespace != "" {
		ns = o.Namespace
	}
	if o.All {
		ns = ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	in, err := readStatus(ctx, src, ns, o.Name, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "status:", err)
		return 1
	}
	report := statusview.Build(in)
	var out []byte
	switch o.Output {
	case "json":
		out, err = json.MarshalIndent(report, "", "  ")
		out = append(out, '\n')
	case "yaml":
		out, err = yaml.Marshal(report)
	default:
		out = []byte(statusview.Text{Color: color, Now: deps.now()}.Report(report))
	}
	if err == nil {
		_, err = stdout.Write(out)
	}
	if err != nil {
		fmt.Fprintln(stderr, "status:", err)
		return 1
	}
	return 0
}

// kubectlShorthand splits kubectl's -ojson and -nNAMESPACE, which the flag package would
// read as unknown flags.
func kubectlShorthand(args []string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		if len(a) > 2 && (strings.HasPrefix(a, "-o") || strings.HasPrefix(a, "-n")) && a[2] != '=' && !strings.HasPrefix(a, "-namespace") && !strings.HasPrefix(a, "-output") {
			out = append(out, a[:2], a[2:])
			continue
		}
		out = append(out, a)
	}
	return out
}

// readStatus reads the ingresses asked for and their classes (every class for all
// namespaces). A class the user may not read is left out with a warning: a namespace's
// view role covers its ingresses, not the cluster's classes.
func readStatus(ctx context.Context, src statusSource, ns, name string, stderr io.Writer) (statusview.Input, error) {
	in := statusview.Input{Namespace: ns}
	switch {
	case name != "":
		ing, err := src.Ingress(ctx, ns, name)
		if apierrors.IsNotFound(err) {
			return in, fmt.Errorf("AnycastIngress %q not found in namespace %q (on %s)", name, ns, src.Where())
		}
		if err != nil {
			return in, readError(src, "AnycastIngress "+ns+"/"+name, err)
		}
		in.Ingresses = []v1alpha1.AnycastIngress{*ing}
	default:
		list, err := src.Ingresses(ctx, ns)
		if err != nil {
			what := "the AnycastIngresses of namespace " + ns
			if ns == "" {
				what = "the AnycastIngresses of all namespaces"
			}
			return in, readError(src, what, err)
		}
		in.Ingresses = list
	}
	if ns == "" {
		list, err := src.Classes(ctx)
		if err != nil {
			return in, readError(src, "the AnycastClasses", err)
		}
		in.Classes = list
		return in, nil
	}
	seen := map[string]bool{}
	for _, ing := range in.Ingresses {
		cn := ing.Spec.ClassName
		if seen[cn] {
			continue
		}
		seen[cn] = true
		cls, err := src.Class(ctx, cn)
		switch {
		case apierrors.IsNotFound(err):
			// The ingress's own status says ClassNotFound.
		case apierrors.IsForbidden(err):
			fmt.Fprintf(stderr, "status: AnycastClass %s not shown: you may not read it (a namespace's view role does not cover cluster-scoped classes; the anycast-operator-viewer ClusterRole bound with a ClusterRoleBinding does)\n", cn)
		case err != nil:
			return in, readError(src, "AnycastClass "+cn, err)
		default:
			in.Classes = append(in.Classes, *cls)
		}
	}
	return in, nil
}

// readError says why reading failed, and what to do, for the failures a user meets.
func readError(src statusSource, what string, err error) error {
	switch {
	case meta.IsNoMatchError(err) || isNoKind(err):
		return fmt.Errorf("%s has no AnycastClass/AnycastIngress API: the anycast-operator CRDs are not installed there (is this the hub cluster?): %v", src.Where(), err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("reading %s is forbidden: %v (status needs get and list on anycastingresses and anycastclasses of anycast.dev: the anycast-operator-viewer ClusterRole)", what, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s refused the kubeconfig's credentials: %v", src.Where(), err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s did not answer in time reading %s (--request-timeout): %v", src.Where(), what, err)
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return fmt.Errorf("reading %s from %s: %v", what, src.Where(), err)
	}
	return fmt.Errorf("cannot reach %s reading %s: %v", src.Where(), what, err)
}

// isNoKind recognises discovery's answer for a group the server does not serve.
func isNoKind(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no matches for kind")
}

// apiSource reads the hub's API server.
type apiSource struct {
	c    client.Reader
	host string
}

func connectAPI(o statusOptions) (statusSource, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := loader.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", errors.New("no kubeconfig: set KUBECONFIG, pass --kubeconfig, or run inside a cluster")
		}
		return nil, "", fmt.Errorf("reading the kubeconfig: %w", err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig's namespace: %w", err)
	}
	cfg.Timeout = o.Timeout
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	return &apiSource{c: c, host: cfg.Host}, ns, nil
}

func (a *apiSource) Where() string { return "the API server at " + a.host }

func (a *apiSource) Ingress(ctx context.Context, ns, name string) (*v1alpha1.AnycastIngress, error) {
	ing := &v1alpha1.AnycastIngress{}
	return ing, a.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ing)
}

func (a *apiSource) Ingresses(ctx context.Context, ns string) ([]v1alpha1.AnycastIngress, error) {
	list := &v1alpha1.AnycastIngressList{}
	if err := a.c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (a *apiSource) Class(ctx context.Context, name string) (*v1alpha1.AnycastClass, error) {
	cls := &v1alpha1.AnycastClass{}
	return cls, a.c.Get(ctx, client.ObjectKey{Name: name}, cls)
}

func (a *apiSource) Classes(ctx context.Context) ([]v1alpha1.AnycastClass, error) {
	list := &v1alpha1.AnycastClassList{}
	if err := a.c.List(ctx, list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// isTerminal tells whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
