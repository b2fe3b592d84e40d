package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// The unit tests run the command against a fake API server; test/packaging runs the built
// binary against a real one (envtest) and uses the kubeconfig it prints.

const (
	testToken = "eyJhbGciOiJSUzI1NiJ9.unit-test-token.signature"
	testCA    = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
)

// writeKubeconfig writes a kubeconfig with the contexts east (a spoke) and west.
func writeKubeconfig(t *testing.T, mutate func(*clientcmdapi.Config)) string {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["east-cluster"] = &clientcmdapi.Cluster{Server: "https://east.example:6443", CertificateAuthorityData: []byte(testCA), TLSServerName: "api.east"}
	c.Clusters["west-cluster"] = &clientcmdapi.Cluster{Server: "https://west.example:6443", CertificateAuthorityData: []byte(testCA)}
	c.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "admin-token"}
	c.Contexts["admin@east"] = &clientcmdapi.Context{Cluster: "east-cluster", AuthInfo: "admin"}
	c.Contexts["west"] = &clientcmdapi.Context{Cluster: "west-cluster", AuthInfo: "admin"}
	c.CurrentContext = "west"
	if mutate != nil {
		mutate(c)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*c, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func spokeObjects(token string) []runtime.Object {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "anycast-operator", Namespace: "anycast-system", UID: "sa-uid"}}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "anycast-operator-token", Namespace: "anycast-system",
			Annotations: map[string]string{corev1.ServiceAccountNameKey: "anycast-operator"}},
		Type: corev1.SecretTypeServiceAccountToken,
	}
	if token != "" {
		secret.Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte(token), corev1.ServiceAccountRootCAKey: []byte("secret-ca")}
	}
	return []runtime.Object{sa, secret}
}

// fakeDeps serves objs to the admin client and, to a client using testToken, answers
// SelfSubjectReviews as the spoke ServiceAccount.
func fakeDeps(objs ...runtime.Object) kubeconfigDeps {
	return kubeconfigDeps{newClient: func(c *rest.Config) (kubernetes.Interface, error) {
		cs := fake.NewClientset(objs...)
		user := ""
		if c.BearerToken == testToken {
			user = "system:serviceaccount:anycast-system:anycast-operator"
		}
		cs.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{Username: user}}}, nil
		})
		return cs, nil
	}}
}

func runKubeconfig(t *testing.T, deps kubeconfigDeps, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := kubeconfigCmdWith(args, &stdout, &stderr, deps)
	if strings.Contains(stderr.String(), testToken) {
		t.Errorf("the token leaked into stderr: %s", stderr.String())
	}
	if code != 0 && strings.Contains(stdout.String(), testToken) {
		t.Errorf("the token was printed although the command failed")
	}
	return code, stdout.String(), stderr.String()
}

func TestKubeconfigPrintsHubSecret(t *testing.T) {
	path := writeKubeconfig(t, nil)
	code, out, errOut := runKubeconfig(t, fakeDeps(spokeObjects(testToken)...), "--context", "admin@east", "--kubeconfig", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s corev1.Secret
	if err := yaml.UnmarshalStrict([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s.Name != "admin-east-kubeconfig" || s.Namespace != "anycast-system" || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("got Secret %s/%s type %s", s.Namespace, s.Name, s.Type)
	}
	if s.Labels["app.kubernetes.io/part-of"] != "anycast-operator" {
		t.Errorf("labels %v", s.Labels)
	}
	if s.Annotations[spokeServiceAccountAnnot] != "anycast-system/anycast-operator" {
		t.Errorf("annotations %v", s.Annotations)
	}
	kc, err := clientcmd.Load(s.Data["kubeconfig"])
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://east.example:6443" || string(cfg.CAData) != testCA || cfg.ServerName != "api.east" || cfg.BearerToken != testToken {
		t.Errorf("kubeconfig: host %s CA %q server name %s token %q", cfg.Host, cfg.CAData, cfg.ServerName, cfg.BearerToken)
	}
	if len(kc.AuthInfos) != 1 || kc.AuthInfos[hubAuthInfoName] == nil || kc.AuthInfos[hubAuthInfoName].Token != testToken {
		t.Errorf("the kubeconfig must hold exactly the spoke token, got %d users", len(kc.AuthInfos))
	}
	if strings.Contains(string(s.Data["kubeconfig"]), "admin-token") {
		t.Errorf("the admin credentials of the context leaked into the hub kubeconfig")
	}
}

func TestKubeconfigFlags(t *testing.T) {
	path := writeKubeconfig(t, nil)
	objs := spokeObjects(testToken)
	objs[0].(*corev1.ServiceAccount).Namespace = "spoke-ns"
	objs[0].(*corev1.ServiceAccount).Name = "hub-identity"
	sec := objs[1].(*corev1.Secret)
	sec.Namespace, sec.Name = "spoke-ns", "custom-token"
	sec.Annotations[corev1.ServiceAccountNameKey] = "hub-identity"
	deps := fakeDeps(objs...)
	code, out, errOut := runKubeconfig(t, deps, "--context", "admin@east", "--kubeconfig", path,
		"--namespace", "spoke-ns", "--service-account", "hub-identity", "--token-secret", "custom-token",
		"--secret-name", "east-kubeconfig", "--hub-namespace", "ops", "--server", "https://10.1.0.1:6443", "--verify=false")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s corev1.Secret
	if err := yaml.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Name != "east-kubeconfig" || s.Namespace != "ops" {
		t.Errorf("got %s/%s", s.Namespace, s.Name)
	}
	kc, err := clientcmd.Load(s.Data["kubeconfig"])
	if err != nil {
		t.Fatal(err)
	}
	if got := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].Server; got != "https://10.1.0.1:6443" {
		t.Errorf("server %s", got)
	}

	// Without --token-secret, the Secret annotated for the ServiceAccount is found.
	code, _, errOut = runKubeconfig(t, deps, "--context", "admin@east", "--kubeconfig", path,
		"--namespace", "spoke-ns", "--service-account", "hub-identity", "--verify=false")
	if code != 0 {
		t.Errorf("discovering the token Secret: exit %d: %s", code, errOut)
	}
}

func TestKubeconfigCAFallsBackToTokenSecret(t *testing.T) {
	path := writeKubeconfig(t, func(c *clientcmdapi.Config) { c.Clusters["east-cluster"].CertificateAuthorityData = nil })
	code, out, errOut := runKubeconfig(t, fakeDeps(spokeObjects(testToken)...), "--context", "admin@east", "--kubeconfig", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var s corev1.Secret
	_ = yaml.Unmarshal([]byte(out), &s)
	kc, _ := clientcmd.Load(s.Data["kubeconfig"])
	if got := string(kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster].CertificateAuthorityData); got != "secret-ca" {
		t.Errorf("CA %q, want the token Secret's ca.crt", got)
	}
}

func TestKubeconfigErrors(t *testing.T) {
	path := writeKubeconfig(t, nil)
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		args []string
		code int
		want string
	}{
		{"no context flag", spokeObjects(testToken), []string{"--kubeconfig", path}, 2, "--context is required"},
		{"unknown context", spokeObjects(testToken), []string{"--context", "north", "--kubeconfig", path}, 1, `no context "north"`},
		{"no service account", nil, []string{"--context", "admin@east", "--kubeconfig", path}, 1, "ServiceAccount anycast-system/anycast-operator not found"},
		{"no token secret", spokeObjects(testToken)[:1], []string{"--context", "admin@east", "--kubeconfig", path}, 1, "token Secret anycast-system/anycast-operator-token not found"},
		{"named token secret missing", spokeObjects(testToken), []string{"--context", "admin@east", "--kubeconfig", path, "--token-secret", "nope"}, 1, "token Secret anycast-system/nope not found"},
		{"token not populated", spokeObjects(""), []string{"--context", "admin@east", "--kubeconfig", path}, 1, "is not populated yet"},
		{"token of someone else", func() []runtime.Object {
			o := spokeObjects(testToken)
			o[1].(*corev1.Secret).Annotations[corev1.ServiceAccountNameKey] = "default"
			return o
		}(), []string{"--context", "admin@east", "--kubeconfig", path}, 1, `token of ServiceAccount "default"`},
		{"token that does not authenticate", spokeObjects("some-other-token"), []string{"--context", "admin@east", "--kubeconfig", path}, 1, "authenticates as nobody"},
		{"bad secret name", spokeObjects(testToken), []string{"--context", "admin@east", "--kubeconfig", path, "--secret-name", "Not_Valid"}, 1, "pass --secret-name"},
		{"stray argument", spokeObjects(testToken), []string{"--context", "admin@east", "extra"}, 2, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runKubeconfig(t, fakeDeps(tc.objs...), tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q does not say %q", errOut, tc.want)
			}
			if out != "" {
				t.Errorf("printed something on failure: %s", out)
			}
		})
	}
}

func TestKubeconfigIsASubcommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"kubeconfig", "-h"}, &stdout, &stderr); code != 2 {
		t.Errorf("kubeconfig -h: exit %d", code)
	}
	if !strings.Contains(stderr.String(), "Usage: anycast-operator kubeconfig") {
		t.Errorf("usage not printed: %s", stderr.String())
	}
}

func TestDNSName(t *testing.T) {
	for in, want := range map[string]string{
		"east": "east", "admin@east": "admin-east", "kind-East": "kind-east",
		"arn:aws:eks:eu-west-1:123:cluster/east": "arn-aws-eks-eu-west-1-123-cluster-east", "@@": "",
	} {
		if got := dnsName(in); got != want {
			t.Errorf("dnsName(%q) = %q, want %q", in, got, want)
		}
	}
}

func init() {
	// The tests never read the user's kubeconfig.
	os.Setenv("KUBECONFIG", os.DevNull)
}
