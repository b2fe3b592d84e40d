package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

const kubeconfigUsage = `Usage: anycast-operator kubeconfig --context SPOKE [flags]

Prints the Secret the hub needs to reach a member ("spoke") cluster, so that no one writes
a kubeconfig by hand. It reads, through the kubeconfig context SPOKE, the ServiceAccount
and the token Secret that the chart installed there with --set role=spoke, and builds a
kubeconfig from the context's API server address and CA and that token. Before printing,
it checks that the kubeconfig authenticates as the ServiceAccount (--verify=false skips
this, e.g. with a --server only the hub can reach).

  anycast-operator kubeconfig --context east | kubectl --context west apply --server-side -f -

then reference the Secret from the class member: kubeconfigSecretRef: {name: east-kubeconfig}.

The token appears only inside the Secret printed on stdout; messages never contain it.
Exit status: 0 printed, 1 something is missing or wrong (the message says what), 2 usage.

Flags:
`

// Labels and annotations of the hub Secret.
const (
	partOfLabel              = "app.kubernetes.io/part-of"
	partOfValue              = "anycast-operator"
	spokeServiceAccountAnnot = "anycast.dev/spoke-service-account"
	spokeServerAnnot         = "anycast.dev/spoke-server"
	kubeconfigKey            = "kubeconfig"
	saTokenAnnot             = corev1.ServiceAccountNameKey // kubernetes.io/service-account.name
	hubAuthInfoName          = "anycast-operator"
)

type kubeconfigOptions struct {
	Context        string
	Kubeconfig     string
	Namespace      string
	ServiceAccount string
	TokenSecret    string
	SecretName     string
	HubNamespace   string
	Server         string
	Verify         bool
	Timeout        time.Duration
}

// kubeconfigDeps are the seams the unit tests replace.
type kubeconfigDeps struct {
	newClient func(*rest.Config) (kubernetes.Interface, error)
}

func defaultKubeconfigDeps() kubeconfigDeps {
	return kubeconfigDeps{newClient: func(c *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(c) }}
}

// kubeconfigCmd implements `anycast-operator kubeconfig`.
func kubeconfigCmd(args []string, stdout, stderr io.Writer) int {
	return kubeconfigCmdWith(args, stdout, stderr, defaultKubeconfigDeps())
}

func kubeconfigCmdWith(args []string, stdout, stderr io.Writer, deps kubeconfigDeps) int {
	fs := flag.NewFlagSet("kubeconfig", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, kubeconfigUsage); fs.PrintDefaults() }
	var o kubeconfigOptions
	fs.StringVar(&o.Context, "context", "", "kubeconfig context of the spoke cluster (required)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file holding the context (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.Namespace, "namespace", "anycast-system", "namespace of the spoke release (its ServiceAccount and token Secret)")
	fs.StringVar(&o.ServiceAccount, "service-account", "anycast-operator", "the spoke release's ServiceAccount (the chart's spoke.serviceAccount.name, default its full name)")
	fs.StringVar(&o.TokenSecret, "token-secret", "", "the ServiceAccount's token Secret on the spoke (default <service-account>-token, else the one annotated for the ServiceAccount)")
	fs.StringVar(&o.SecretName, "secret-name", "", "name of the Secret to create on the hub (default <context>-kubeconfig)")
	fs.StringVar(&o.HubNamespace, "hub-namespace", "anycast-system", "namespace the operator runs in on the hub")
	fs.StringVar(&o.Server, "server", "", "API server URL the hub uses for the spoke (default the context's cluster server)")
	fs.BoolVar(&o.Verify, "verify", true, "check that the kubeconfig authenticates as the ServiceAccount before printing it")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "time limit of the calls to the spoke API server")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kubeconfig: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if o.Context == "" {
		fmt.Fprintln(stderr, "kubeconfig: --context is required: the kubeconfig context of the spoke cluster")
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	out, err := spokeSecret(ctx, o, deps, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kubeconfig:", err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, "kubeconfig:", err)
		return 1
	}
	return 0
}

// spokeSecret builds the hub Secret manifest for the spoke of o.Context.
func spokeSecret(ctx context.Context, o kubeconfigOptions, deps kubeconfigDeps, stderr io.Writer) ([]byte, error) {
	secretName := o.SecretName
	if secretName == "" {
		secretName = dnsName(o.Context) + "-kubeconfig"
	}
	if errs := validation.IsDNS1123Subdomain(secretName); len(errs) > 0 {
		return nil, fmt.Errorf("hub Secret name %q is not valid (%s): pass --secret-name", secretName, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(o.HubNamespace); len(errs) > 0 {
		return nil, fmt.Errorf("--hub-namespace %q is not a namespace name: %s", o.HubNamespace, strings.Join(errs, "; "))
	}

	// The context: where the spoke's API server is, and how to read from it.
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	kctx, ok := raw.Contexts[o.Context]
	if !ok {
		names := make([]string, 0, len(raw.Contexts))
		for n := range raw.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		where := "the kubeconfig"
		if o.Kubeconfig != "" {
			where = o.Kubeconfig
		}
		return nil, fmt.Errorf("no context %q in %s (contexts: %s)", o.Context, where, strings.Join(names, ", "))
	}
	cluster, ok := raw.Clusters[kctx.Cluster]
	if !ok {
		return nil, fmt.Errorf("context %q names cluster %q, which the kubeconfig does not define", o.Context, kctx.Cluster)
	}
	admin, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", o.Context, err)
	}
	admin.Timeout = o.Timeout
	cs, err := deps.newClient(admin)
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", o.Context, err)
	}

	// The spoke identity the chart created.
	sa, err := cs.CoreV1().ServiceAccounts(o.Namespace).Get(ctx, o.ServiceAccount, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("ServiceAccount %s/%s not found on context %q: install the chart there with --set role=spoke in namespace %s (or pass --namespace and --service-account)",
			o.Namespace, o.ServiceAccount, o.Context, o.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("reading ServiceAccount %s/%s on context %q: %w", o.Namespace, o.ServiceAccount, o.Context, err)
	}
	secret, err := tokenSecret(ctx, cs, o, sa)
	if err != nil {
		return nil, err
	}
	token := secret.Data[corev1.ServiceAccountTokenKey]
	if len(token) == 0 {
		return nil, fmt.Errorf("the token of Secret %s/%s is not populated yet: kube-controller-manager's token controller fills it a moment after the Secret is created; retry in a few seconds (if it stays empty, check that the Secret's %s annotation names an existing ServiceAccount)",
			o.Namespace, secret.Name, saTokenAnnot)
	}

	server := cluster.Server
	if o.Server != "" {
		server = o.Server
	}
	if server == "" {
		return nil, fmt.Errorf("cluster %q of context %q has no server: pass --server", kctx.Cluster, o.Context)
	}
	ca := cluster.CertificateAuthorityData
	if len(ca) == 0 && cluster.CertificateAuthority != "" {
		if ca, err = os.ReadFile(cluster.CertificateAuthority); err != nil {
			return nil, fmt.Errorf("reading the CA of cluster %q: %w", kctx.Cluster, err)
		}
	}
	if len(ca) == 0 {
		ca = secret.Data[corev1.ServiceAccountRootCAKey]
	}
	insecure := false
	if len(ca) == 0 {
		if !cluster.InsecureSkipTLSVerify {
			return nil, fmt.Errorf("no CA for the API server of context %q: neither the kubeconfig cluster %q nor the token Secret has one", o.Context, kctx.Cluster)
		}
		insecure = true
		fmt.Fprintf(stderr, "kubeconfig: warning: context %q skips TLS verification and has no CA: the hub will not verify the spoke's API server either\n", o.Context)
	}

	name := dnsName(o.Context)
	if name == "" {
		name = "spoke"
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{
		Server: server, CertificateAuthorityData: ca, TLSServerName: cluster.TLSServerName,
		ProxyURL: cluster.ProxyURL, InsecureSkipTLSVerify: insecure,
	}
	kc.AuthInfos[hubAuthInfoName] = &clientcmdapi.AuthInfo{Token: string(token)}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: hubAuthInfoName}
	kc.CurrentContext = name
	kubeconfig, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, fmt.Errorf("writing the kubeconfig: %w", err)
	}

	user := "system:serviceaccount:" + o.Namespace + ":" + o.ServiceAccount
	if o.Verify {
		if err := verifyIdentity(ctx, deps, kubeconfig, user, o.Timeout); err != nil {
			return nil, fmt.Errorf("the kubeconfig built for context %q does not work (pass --verify=false if only the hub can reach %s): %w", o.Context, server, err)
		}
	}

	manifest := map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata": map[string]any{
			"name":      secretName,
			"namespace": o.HubNamespace,
			"labels":    map[string]string{partOfLabel: partOfValue},
			"annotations": map[string]string{
				spokeServiceAccountAnnot: o.Namespace + "/" + o.ServiceAccount,
				spokeServerAnnot:         server,
			},
		},
		"type": string(corev1.SecretTypeOpaque),
		"data": map[string][]byte{kubeconfigKey: kubeconfig},
	}
	body, err := yaml.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	header := fmt.Sprintf("# The kubeconfig of ServiceAccount %s/%s on %s (context %q), for the hub.\n"+
		"# Reference it from the AnycastClass member: kubeconfigSecretRef: {name: %s, key: %s}\n",
		o.Namespace, o.ServiceAccount, server, o.Context, secretName, kubeconfigKey)
	return append([]byte(header), body...), nil
}

// tokenSecret finds the ServiceAccount's token Secret: the named one, or the only one
// annotated for the ServiceAccount.
func tokenSecret(ctx context.Context, cs kubernetes.Interface, o kubeconfigOptions, sa *corev1.ServiceAccount) (*corev1.Secret, error) {
	name := o.TokenSecret
	if name == "" {
		name = o.ServiceAccount + "-token"
	}
	secret, err := cs.CoreV1().Secrets(o.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && o.TokenSecret == "" {
		list, lerr := cs.CoreV1().Secrets(o.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeServiceAccountToken)})
		if lerr != nil {
			return nil, fmt.Errorf("listing token Secrets in %s on context %q: %w", o.Namespace, o.Context, lerr)
		}
		var found []corev1.Secret
		for _, s := range list.Items {
			if s.Annotations[saTokenAnnot] == sa.Name {
				found = append(found, s)
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("token Secret %s/%s not found on context %q, and no other Secret of type %s belongs to ServiceAccount %s: install the chart there with --set role=spoke (it creates the Secret), or pass --token-secret",
				o.Namespace, name, o.Context, corev1.SecretTypeServiceAccountToken, sa.Name)
		case 1:
			return &found[0], nil
		default:
			return nil, fmt.Errorf("ServiceAccount %s/%s has %d token Secrets on context %q: pick one with --token-secret", o.Namespace, sa.Name, len(found), o.Context)
		}
	}
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("token Secret %s/%s not found on context %q", o.Namespace, name, o.Context)
	}
	if err != nil {
		return nil, fmt.Errorf("reading token Secret %s/%s on context %q: %w", o.Namespace, name, o.Context, err)
	}
	if secret.Type != corev1.SecretTypeServiceAccountToken {
		return nil, fmt.Errorf("Secret %s/%s has type %s, not %s", o.Namespace, name, secret.Type, corev1.SecretTypeServiceAccountToken)
	}
	if got := secret.Annotations[saTokenAnnot]; got != sa.Name {
		return nil, fmt.Errorf("Secret %s/%s is a token of ServiceAccount %q, not %q", o.Namespace, name, got, sa.Name)
	}
	return secret, nil
}

// verifyIdentity asks the spoke who the kubeconfig authenticates as.
func verifyIdentity(ctx context.Context, deps kubeconfigDeps, kubeconfig []byte, want string, timeout time.Duration) error {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = timeout
	cs, err := deps.newClient(cfg)
	if err != nil {
		return err
	}
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if got := review.Status.UserInfo.Username; got != want {
		return errors.New("it authenticates as " + quoteOrNone(got) + ", not " + want)
	}
	return nil
}

func quoteOrNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return fmt.Sprintf("%q", s)
}

var notDNS = regexp.MustCompile(`[^a-z0-9.-]+`)

// dnsName turns a context name (admin@east, kind-east, arn:aws:...) into a DNS subdomain.
func dnsName(s string) string {
	s = notDNS.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.Trim(s, "-.")
	if len(s) > 200 {
		s = strings.Trim(s[:200], "-.")
	}
	return s
}
