// Command anycast-operator runs the operator, or with a subcommand, a tool around it:
//
//	anycast-operator [flags]                 run the operator
//	anycast-operator render -f FILE...       print what would be applied to each member
//	anycast-operator kubeconfig --context C  print the hub's kubeconfig Secret for spoke C
//	anycast-operator status [-n NS] [NAME]   print what the operator reports, what is wrong first
//	anycast-operator version                 print the version
//
// Run through a link named kubectl-anycast, it is `anycast-operator status`: the kubectl
// plugin `kubectl anycast`.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/anycast-operator/anycast-operator/internal/controller"
	"github.com/anycast-operator/anycast-operator/internal/logging"
	"github.com/anycast-operator/anycast-operator/internal/operator"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if isPlugin(os.Args[0]) {
		os.Exit(statusCmd(pluginArgs(os.Args[1:]), os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "render":
			return renderCmd(args[1:], stdout, stderr)
		case "kubeconfig":
			return kubeconfigCmd(args[1:], stdout, stderr)
		case "status":
			return statusCmd(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, version)
			return 0
		}
	}
	return operatorCmd(args, stderr)
}

func operatorCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("anycast-operator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts operator.Options
	fs.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	fs.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	fs.BoolVar(&opts.LeaderElection, "leader-elect", true, "elect a leader so that only one replica reconciles")
	fs.StringVar(&opts.Namespace, "namespace", envOr("POD_NAMESPACE", "anycast-system"), "namespace the operator runs in; password and kubeconfig Secrets are read there")
	fs.IntVar(&opts.IngressWorkers, "ingress-workers", controller.DefaultIngressWorkers, "how many AnycastIngresses are reconciled at once (at least 1)")
	fs.DurationVar(&opts.SyncPeriod, "sync-period", 0, "how often every object is reconciled without a change (default 10h)")
	fs.DurationVar(&opts.CertificateRecheck, "certificate-recheck", time.Minute, "how often certificates no watch covers are read again: each member's own (AnycastClass spec.certificates.source Member), the hub's outside --certificate-namespaces")
	certNamespaces := fs.String("certificate-namespaces", "", "comma-separated namespaces whose kubernetes.io/tls Secrets are watched on the hub, so a renewed certificate reaches the members' copies at once (the chart's certificates.namespaces; \"*\" is every namespace, which needs cluster-wide read of Secrets)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.IngressWorkers < 1 {
		fmt.Fprintf(stderr, "--ingress-workers must be at least 1, got %d\n", opts.IngressWorkers)
		return 2
	}
	opts.CertificateNamespaces = splitList(*certNamespaces)
	logger, note := logging.New(zapOpts, stderr)
	ctrl.SetLogger(logger)
	log := ctrl.Log.WithName("setup")
	if note != "" {
		log.Info(note)
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "no Kubernetes configuration: set KUBECONFIG or run in a cluster")
		return 1
	}
	mgr, err := operator.New(cfg, opts)
	if err != nil {
		log.Error(err, "building the operator")
		return 1
	}
	log.Info("starting", "version", version, "namespace", opts.Namespace, "leaderElection", opts.LeaderElection)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "operator stopped")
		return 1
	}
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
