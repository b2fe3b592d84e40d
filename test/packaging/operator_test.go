package packaging

import (
	"github.com/anycast-operator/anycast-operator/internal/scheme"
	gatewayfixture "github.com/anycast-operator/anycast-operator/test/fixtures/gateway"

	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// TestOperatorRunsWithTheChartsRBAC runs the built operator the way the chart's Deployment
// does — its args and environment, as its ServiceAccount with only the RBAC the hub chart
// installed — against the API server: the probes answer on the chart's ports, /readyz turns
// ready (every cache synced, so every list and watch is allowed), leader election takes the
// Lease in the release namespace, /metrics serves, and an AnycastIngress on the local member
// becomes Ready (every object the operator renders, applied under that RBAC).
func TestOperatorRunsWithTheChartsRBAC(t *testing.T) {
	installHub(t)
	metricsPort, probePort := freePort(t), freePort(t)
	r := mustRender(t, hubRelease, hubNamespace, map[string]any{
		"metallb":     map[string]any{"namespace": hubMetalLB},
		"metrics":     map[string]any{"port": metricsPort},
		"healthProbe": map[string]any{"port": probePort},
	})
	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(find(t, r.Objects(t), "Deployment", "").Object, &dep); err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	sa := dep.Spec.Template.Spec.ServiceAccountName

	// The pod's identity: a token of the chart's ServiceAccount (kubelet would mount one).
	ctx := context.Background()
	tr, err := cs.CoreV1().ServiceAccounts(hubNamespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["hub"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["pod"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["hub"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "pod"}
	kc.CurrentContext = "hub"
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	env := []string{"KUBECONFIG=" + kubeconfig, "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			env = append(env, e.Name+"="+hubNamespace)
		} else if e.ValueFrom == nil {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	cmd := exec.Command(operatorBinary(t), c.Args...)
	cmd.Env = env
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("operator log:\n%s", tail(logs.String(), 60))
		}
	}()

	probe := fmt.Sprintf("http://127.0.0.1:%d", probePort)
	waitHTTP(t, probe+"/healthz", 60*time.Second)
	waitHTTP(t, probe+"/readyz", 90*time.Second)

	// Leader election in the release namespace.
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		var leases coordinationv1.LeaseList
		if err := cl.List(ctx, &leases, client.InNamespace(hubNamespace)); err != nil {
			return false, err
		}
		for _, l := range leases.Items {
			if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no leader-election Lease held in %s: %v", hubNamespace, err)
	}

	// The controllers (and their metrics) start right after the lease is won: poll.
	var missing []string
	_ = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		body := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
		missing = missing[:0]
		for _, m := range []string{"controller_runtime_reconcile_total", "controller_runtime_max_concurrent_reconciles", "leader_election_master_status"} {
			if !strings.Contains(body, m) {
				missing = append(missing, m)
			}
		}
		return len(missing) == 0, nil
	})
	for _, m := range missing {
		t.Errorf("/metrics has no %s", m)
	}

	// A class whose only member is this cluster, and an ingress of it: everything rendered is
	// applied with the chart's RBAC.
	class := object(t, `
apiVersion: anycast.dev/v1alpha1
kind: AnycastClass
metadata: {name: rbac-proof}
spec:
  pools: ["198.18.55.0/24"]
  gatewayClassName: envoy
  metallbNamespace: `+hubMetalLB+`
  clusters:
  - name: west
    asn: 65001
    peers:
    - {name: tor, address: 198.18.63.254, asn: 64001}
`)
	ingress := object(t, `
apiVersion: anycast.dev/v1alpha1
kind: AnycastIngress
metadata: {name: hello, namespace: rbac-proof}
spec:
  className: rbac-proof
  address: 198.18.55.10
  listeners:
  - {name: http, protocol: HTTP, port: 80}
`)
	ensureNamespace(t, "rbac-proof", nil)
	// The Gateway implementation and MetalLB's IP assignment are played by a clearly named
	// fixture (with the test's admin identity, not the operator's): the health gate needs
	// a Gateway that is Programmed with the VIP.
	gctx, stopGateways := context.WithCancel(ctx)
	t.Cleanup(stopGateways)
	fixtureClient, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	go (&gatewayfixture.Implementation{Client: fixtureClient, MetalLBNamespace: hubMetalLB, GatewayClassNames: []string{"envoy"}}).Run(gctx)
	applyObjects(t, []*unstructured.Unstructured{class, ingress})
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(ingress.GroupVersionKind())
		if err := cl.Get(ctx, client.ObjectKeyFromObject(ingress), live); err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
		var cs []metav1.Condition
		b, _ := yaml.Marshal(conds)
		_ = yaml.Unmarshal(b, &cs)
		ready := meta.FindStatusCondition(cs, "Ready")
		return ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == live.GetGeneration(), nil
	})
	if err != nil {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(ingress.GroupVersionKind())
		_ = cl.Get(ctx, client.ObjectKeyFromObject(ingress), live)
		st, _ := yaml.Marshal(live.Object["status"])
		t.Fatalf("the AnycastIngress did not become Ready under the chart's RBAC: %v\nstatus:\n%s", err, st)
	}
	// What it rendered is there: the MetalLB pool in MetalLB's namespace, the Gateway in the
	// ingress namespace.
	pools := &unstructured.UnstructuredList{}
	pools.SetAPIVersion("metallb.io/v1beta1")
	pools.SetKind("IPAddressPoolList")
	if err := cl.List(ctx, pools, client.InNamespace(hubMetalLB), client.MatchingLabels{"anycast.dev/owner-name": "hello"}); err != nil || len(pools.Items) == 0 {
		t.Errorf("no IPAddressPool of the ingress in %s (%v)", hubMetalLB, err)
	}
	// Clean up while the operator runs, so its finalizers are honoured.
	for _, o := range []*unstructured.Unstructured{ingress, class} {
		if err := cl.Delete(ctx, o.DeepCopy()); err != nil {
			t.Errorf("deleting %s: %v", o.GetKind(), err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(class.GroupVersionKind())
		err := cl.Get(ctx, client.ObjectKeyFromObject(class), live)
		return client.IgnoreNotFound(err) == nil && err != nil, nil
	})
	if err != nil {
		t.Errorf("the class and ingress were not finalized under the chart's RBAC: %v", err)
	}
	if strings.Contains(logs.String(), "forbidden") {
		t.Errorf("the operator logged a forbidden error:\n%s", grepLines(logs.String(), "forbidden"))
	}
}

func object(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	objs := parseObjects(t, "inline", []byte(y))
	if len(objs) != 1 {
		t.Fatalf("%d objects", len(objs))
	}
	return objs[0]
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHTTP(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		resp, err := http.Get(url)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("%s never answered 200 (last: %s)", url, last)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return tail(strings.Join(out, "\n"), 20)
}
