package multicluster_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/anycast-operator/anycast-operator/internal/render"
)

// TestSecretsNeverReachLogsOrEvents runs last: after every scenario above, no Skupper
// grant code, kubeconfig credential, TLS private key or BGP password may appear in anything the operator
// logged (at any level) or in an event it emitted.
func TestSecretsNeverReachLogsOrEvents(t *testing.T) {
	ctx := context.Background()
	var secrets []string
	grants := &unstructured.UnstructuredList{}
	grants.SetGroupVersionKind(render.GVKAccessGrant.GroupVersion().WithKind("AccessGrantList"))
	if err := west.Client.List(ctx, grants); err != nil {
		t.Fatal(err)
	}
	for _, g := range grants.Items {
		if code := str(&g, "status", "code"); code != "" {
			secrets = append(secrets, code)
		}
	}
	if len(secrets) == 0 {
		t.Fatal("no grant codes to look for: the scenarios above did not run")
	}
	for _, kc := range [][]byte{east.Kubeconfig(), north.Kubeconfig()} {
		cfg, err := clientcmd.Load(kc)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range cfg.AuthInfos {
			if len(a.ClientKeyData) > 0 {
				secrets = append(secrets, firstLine(string(a.ClientKeyData), 1))
			}
			if a.Token != "" {
				secrets = append(secrets, a.Token)
			}
		}
	}

	// The HTTPS listeners' keys (certificates_test.go): copied to members, never logged.
	for _, k := range tlsKeys {
		secrets = append(secrets, firstLine(string(k), 1))
	}
	logs := operatorLogs.String()
	if len(logs) == 0 {
		t.Fatal("no operator logs were captured")
	}
	var events []string
	core := &corev1.EventList{}
	if err := west.Client.List(ctx, core); err != nil {
		t.Fatal(err)
	}
	for _, e := range core.Items {
		events = append(events, e.Message)
	}
	ev := &eventsv1.EventList{}
	if err := west.Client.List(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for _, e := range ev.Items {
		events = append(events, e.Note)
	}
	if len(events) == 0 {
		t.Fatal("no events were recorded")
	}
	all := logs + "\n" + strings.Join(events, "\n")
	for _, s := range secrets {
		if i := strings.Index(all, s); i >= 0 {
			// Show where, with the secret itself masked.
			start, end := max(0, i-300), min(len(all), i+len(s)+100)
			t.Errorf("a secret value (%d bytes) appears in the operator's logs or events, in: %s", len(s), strings.ReplaceAll(all[start:end], s, "<SECRET>"))
		}
	}
	t.Logf("checked %d secret values against %d bytes of logs and %d events", len(secrets), len(logs), len(events))
}

// firstLine returns line n of a PEM block (its first base64 line), enough to recognise it.
func firstLine(pem string, n int) string {
	lines := strings.Split(pem, "\n")
	if len(lines) > n {
		return lines[n]
	}
	return pem
}
