package packaging

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// operatorBinary builds cmd/anycast-operator as `make build` does (static, trimmed).
func operatorBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "anycast-operator-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "anycast-operator")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, "./cmd/anycast-operator")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{err: err, out: string(out)}
		}
	})
	if binErr != nil {
		t.Fatalf("building the operator binary: %v", binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// adminKubeconfig writes a kubeconfig whose context "east" reaches the envtest API server
// as cluster-admin (the person running the command on their workstation).
func adminKubeconfig(t *testing.T) string {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["east"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	c.AuthInfos["east-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	c.Contexts["east"] = &clientcmdapi.Context{Cluster: "east", AuthInfo: "east-admin"}
	c.Contexts["west"] = &clientcmdapi.Context{Cluster: "east", AuthInfo: "east-admin"}
	c.CurrentContext = "west"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*c, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// fillTokenAsTokenController is a fixture for kube-controller-manager's token controller,
// which envtest does not run: it puts a token of the ServiceAccount (from the TokenRequest
// API), the cluster CA and the namespace into the token Secret, as that controller does.
func fillTokenAsTokenController(t *testing.T, namespace, sa, secret string) string {
	t.Helper()
	ctx := context.Background()
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.CoreV1().Secrets(namespace).Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data = map[string][]byte{
		corev1.ServiceAccountTokenKey:     []byte(tr.Status.Token),
		corev1.ServiceAccountRootCAKey:    cfg.CAData,
		corev1.ServiceAccountNamespaceKey: []byte(namespace),
	}
	if _, err := cs.CoreV1().Secrets(namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

type cmdResult struct {
	code           int
	stdout, stderr string
}

func runBinary(t *testing.T, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(operatorBinary(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+os.DevNull)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cmdResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

// TestKubeconfigHandOff runs the built `anycast-operator kubeconfig` against a real API
// server holding the spoke role: it fails clearly while the token is missing, then prints
// a Secret whose kubeconfig authenticates as the spoke ServiceAccount and has exactly the
// spoke's permissions; the Secret applies on the hub and the hub operator can read it.
func TestKubeconfigHandOff(t *testing.T) {
	installSpoke(t)
	installHub(t)
	kubeconfig := adminKubeconfig(t)
	base := []string{"kubeconfig", "--context", "east", "--kubeconfig", kubeconfig, "--namespace", spokeNamespace}

	// Before the token controller filled the Secret.
	r := runBinary(t, base...)
	if r.code != 1 || !strings.Contains(r.stderr, "is not populated yet") || r.stdout != "" {
		t.Fatalf("with an empty token Secret: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	token := fillTokenAsTokenController(t, spokeNamespace, "anycast-operator", "anycast-operator-token")

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no such context":         {[]string{"kubeconfig", "--context", "north", "--kubeconfig", kubeconfig}, `no context "north"`},
		"no such service account": {append(append([]string{}, base...), "--service-account", "nobody"), "ServiceAccount spoke-system/nobody not found"},
		"no such token secret":    {append(append([]string{}, base...), "--token-secret", "gone"), "token Secret spoke-system/gone not found"},
		"wrong namespace":         {[]string{"kubeconfig", "--context", "east", "--kubeconfig", kubeconfig, "--namespace", "kube-public"}, "install the chart there with --set role=spoke"},
	} {
		r := runBinary(t, tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q (want %q)", name, r.code, r.stdout, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, token) {
			t.Errorf("%s: the token leaked into stderr", name)
		}
	}

	r = runBinary(t, append(base, "--secret-name", "east-kubeconfig", "--hub-namespace", hubNamespace)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, token) {
		t.Errorf("the token leaked into stderr")
	}
	objs := parseObjects(t, "kubeconfig output", []byte(r.stdout))
	if len(objs) != 1 {
		t.Fatalf("%d objects printed", len(objs))
	}
	var secret corev1.Secret
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, &secret); err != nil {
		t.Fatal(err)
	}
	if secret.Name != "east-kubeconfig" || secret.Namespace != hubNamespace || secret.Labels["app.kubernetes.io/part-of"] != "anycast-operator" {
		t.Errorf("Secret %s/%s labels %v", secret.Namespace, secret.Name, secret.Labels)
	}

	// The kubeconfig authenticates as the spoke ServiceAccount...
	restCfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data["kubeconfig"])
	if err != nil {
		t.Fatal(err)
	}
	if restCfg.BearerToken != token || restCfg.CertData != nil || restCfg.KeyData != nil {
		t.Errorf("the kubeconfig must carry the spoke token and no other credential")
	}
	spoke, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	who, err := spoke.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := who.Status.UserInfo.Username, "system:serviceaccount:"+spokeNamespace+":anycast-operator"; got != want {
		t.Errorf("authenticated as %q, want %q", got, want)
	}
	// ... with the spoke's permissions, and no more.
	pools := &unstructured.UnstructuredList{}
	pools.SetAPIVersion("metallb.io/v1beta1")
	pools.SetKind("IPAddressPoolList")
	spokeClient, err := client.New(restCfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := spokeClient.List(ctx, pools, client.InNamespace(spokeMetalLB)); err != nil {
		t.Errorf("listing IPAddressPools in %s as the spoke identity: %v", spokeMetalLB, err)
	}
	if _, err := spoke.CoreV1().Secrets(spokeMetalLB).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing Secrets in %s as the spoke identity: %v", spokeMetalLB, err)
	}
	if _, err := spoke.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "created-by-hub"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("creating an ingress namespace as the spoke identity: %v", err)
	}
	for what, err := range map[string]error{
		"list Secrets in default": func() error { _, err := spoke.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); return err }(),
		"get its own token Secret": func() error {
			_, err := spoke.CoreV1().Secrets(spokeNamespace).Get(ctx, "anycast-operator-token", metav1.GetOptions{})
			return err
		}(),
		"list Secrets cluster-wide": func() error { _, err := spoke.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err }(),
		"delete a namespace":        spoke.CoreV1().Namespaces().Delete(ctx, "created-by-hub", metav1.DeleteOptions{}),
		"list pods":                 func() error { _, err := spoke.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); return err }(),
		"create a service account token": func() error {
			_, err := spoke.CoreV1().ServiceAccounts(spokeNamespace).CreateToken(ctx, "anycast-operator", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			return err
		}(),
	} {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as the spoke identity: want Forbidden, got %v", what, err)
		}
	}

	// The printed Secret applies on the hub, where the operator may read it.
	applyObjects(t, objs)
	if !allowed(t, serviceAccount(hubNamespace, "hub-anycast-operator"), access{Verb: "get", Resource: "secrets", Namespace: hubNamespace}) {
		t.Errorf("the hub operator may not read the kubeconfig Secret in %s", hubNamespace)
	}

	// --server overrides the address in the kubeconfig; --verify=false skips the check
	// (the workstation cannot reach that address).
	r = runBinary(t, append(base, "--server", "https://east.internal:6443", "--verify=false")...)
	if r.code != 0 {
		t.Fatalf("--server: exit %d: %s", r.code, r.stderr)
	}
	objs = parseObjects(t, "kubeconfig output", []byte(r.stdout))
	var over corev1.Secret
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, &over); err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(over.Data["kubeconfig"])
	if err != nil {
		t.Fatal(err)
	}
	if got := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server; got != "https://east.internal:6443" {
		t.Errorf("server %s", got)
	}
	if over.Name != "east-kubeconfig" || over.Namespace != "anycast-system" {
		t.Errorf("default name and namespace: %s/%s", over.Namespace, over.Name)
	}
	// With verification on, an unreachable --server is an error, not a silently broken Secret.
	r = runBinary(t, append(base, "--server", "https://127.0.0.1:1", "--timeout", "5s")...)
	if r.code != 1 || !strings.Contains(r.stderr, "does not work") || r.stdout != "" {
		t.Errorf("unreachable --server with --verify: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
