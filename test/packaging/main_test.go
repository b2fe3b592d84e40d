// Package packaging tests what users install: the Helm chart (both roles), the kustomize
// installer (make build-installer), the kubeconfig hand-off from a spoke to the hub, and the
// files generated from other files (chart CRDs and RBAC, docs/api.md, ArgoCD config).
//
// The chart is rendered and linted with the Helm v3 SDK (the code behind `helm template`
// and `helm lint`), kustomize builds use the kustomize API (the code behind
// `kubectl kustomize`), and everything is applied server-side to a real kube-apiserver
// (envtest) with RBAC authorization and the MetalLB, Gateway API and Skupper CRDs installed
// — but not this project's: the hub chart and the installer bring those.
package packaging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/anycast-operator/anycast-operator/test/testenv"
)

var (
	// root is the repository root.
	root string
	// env is the API server every test of this package shares. Tests use their own
	// namespaces and release names so they do not see each other's objects.
	env *envtest.Environment
	// cfg, cl and cs reach it as cluster-admin.
	cfg *rest.Config
	cl  client.Client
	cs  kubernetes.Interface
)

func TestMain(m *testing.M) {
	code, err := start(m)
	if err != nil {
		// Never skip: an API server that cannot start is a failure, in CI and outside.
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func start(m *testing.M) (int, error) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		return 0, err
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return 0, err
	}
	all, err := testenv.CRDPaths()
	if err != nil {
		return 0, err
	}
	// The upstream CRDs (MetalLB, Gateway API, Skupper), not ours.
	var upstream []string
	for _, p := range all {
		if filepath.Clean(p) != filepath.Join(root, "config", "crd", "bases") {
			upstream = append(upstream, p)
		}
	}
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	env = &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        upstream,
		ErrorIfCRDPathMissing:    true,
		Scheme:                   s,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	if cfg, err = env.Start(); err != nil {
		return 0, fmt.Errorf("starting envtest (assets %s): %w", assets, err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	cfg.QPS, cfg.Burst = 500, 1000
	if cl, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
		return 0, err
	}
	if cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return 0, err
	}
	// The operator binary some tests build is removed with the run (30 MiB each).
	defer func() {
		if binPath != "" {
			_ = os.RemoveAll(filepath.Dir(binPath))
		}
	}()
	return m.Run(), nil
}
