package clusters

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// Reasons a member is not usable, as condition reasons.
const (
	ReasonReachable               = "Reachable"
	ReasonKubeconfigSecretMissing = "KubeconfigSecretNotFound"
	ReasonKubeconfigKeyMissing    = "KubeconfigKeyMissing"
	ReasonBadKubeconfig           = "BadKubeconfig"
	ReasonUnauthorized            = "Unauthorized"
	ReasonForbidden               = "Forbidden"
	ReasonBadCertificate          = "BadCertificate"
	ReasonUnreachable             = "Unreachable"
	ReasonMissingCRDs             = "MissingCRDs"
	ReasonConnecting              = "Connecting"
)

// requiredAPIs are the API groups a member must serve, with the name users know them by.
var requiredAPIs = []struct {
	product string
	gv      schema.GroupVersion
	kinds   []string
}{
	{"MetalLB", schema.GroupVersion{Group: "metallb.io", Version: "v1beta1"}, []string{"IPAddressPool", "BGPAdvertisement", "BFDProfile"}},
	{"MetalLB", schema.GroupVersion{Group: "metallb.io", Version: "v1beta2"}, []string{"BGPPeer"}},
	{"Gateway API", schema.GroupVersion{Group: "gateway.networking.k8s.io", Version: "v1"}, []string{"GatewayClass", "Gateway", "HTTPRoute"}},
	{"Skupper", schema.GroupVersion{Group: "skupper.io", Version: "v2alpha1"}, []string{"Site", "Listener", "Connector", "AccessGrant", "AccessToken", "Link"}},
}

// Health is the outcome of one probe of a member's API server.
type Health struct {
	OK      bool
	Reason  string
	Message string
	Since   time.Time
	// Latency is how long the probe took: one round trip to the member's API server (the
	// probe's requests go at once).
	Latency time.Duration
}

// probe asks the member's API server for its version and, when full, the API groups the
// operator writes, and turns what fails into a reason a person can act on.
func probe(ctx context.Context, dc discovery.DiscoveryInterface, full bool) Health {
	done := make(chan Health, 1)
	start := time.Now()
	go func() {
		if !full {
			if _, err := dc.ServerVersion(); err != nil {
				done <- classify(err)
				return
			}
			done <- Health{OK: true, Reason: ReasonReachable}
			return
		}
		done <- probeSync(dc)
	}()
	select {
	case h := <-done:
		h.Latency = time.Since(start)
		return h
	case <-ctx.Done():
		return Health{Reason: ReasonUnreachable, Message: "the API server did not answer in time", Latency: time.Since(start)}
	}
}

func probeSync(dc discovery.DiscoveryInterface) Health {
	// The version and the API groups are asked for at once: one at a time, a member
	// whose API server takes 2 s per request (far, or loaded) needed 10 s, more than the
	// probe's timeout, and was declared unreachable although it answers (issue 20).
	type answer struct {
		list *metav1.APIResourceList
		err  error
	}
	answers := make([]answer, len(requiredAPIs))
	var versionErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, versionErr = dc.ServerVersion()
	}()
	for i, api := range requiredAPIs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].list, answers[i].err = dc.ServerResourcesForGroupVersion(api.gv.String())
		}()
	}
	wg.Wait()
	if versionErr != nil {
		return classify(versionErr)
	}
	missing := map[string][]string{}
	for i, api := range requiredAPIs {
		list, err := answers[i].list, answers[i].err
		if err != nil && !apierrors.IsNotFound(err) {
			return classify(err)
		}
		served := map[string]bool{}
		if list != nil {
			for _, r := range list.APIResources {
				served[r.Kind] = true
			}
		}
		for _, k := range api.kinds {
			if !served[k] {
				missing[api.product] = append(missing[api.product], k+" ("+api.gv.String()+")")
			}
		}
	}
	if len(missing) > 0 {
		products := make([]string, 0, len(missing))
		for p, kinds := range missing {
			products = append(products, p+": "+strings.Join(kinds, ", "))
		}
		sort.Strings(products)
		return Health{Reason: ReasonMissingCRDs, Message: "the cluster lacks CRDs the operator writes; install them: " + strings.Join(products, "; ")}
	}
	return Health{OK: true, Reason: ReasonReachable}
}

// classify maps a client error to a reason and a message without echoing credentials.
func classify(err error) Health {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case apierrors.IsUnauthorized(err):
		return Health{Reason: ReasonUnauthorized, Message: "the API server rejected the kubeconfig's credentials (401): the token or client certificate is wrong or expired"}
	case apierrors.IsForbidden(err):
		return Health{Reason: ReasonForbidden, Message: "the kubeconfig's identity may not read the cluster's APIs (403): install the spoke role of the chart and use its ServiceAccount"}
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid), strings.Contains(err.Error(), "x509:"):
		return Health{Reason: ReasonBadCertificate, Message: "the API server's TLS certificate is not trusted by the kubeconfig (wrong certificate-authority-data or server name): " + shortErr(err)}
	case errors.As(err, &netErr), errors.As(err, &urlErr):
		return Health{Reason: ReasonUnreachable, Message: "cannot reach the API server: " + shortErr(err)}
	}
	return Health{Reason: ReasonUnreachable, Message: shortErr(err)}
}

// shortErr keeps the last, most specific part of a wrapped error.
func shortErr(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

func (h Health) String() string {
	if h.OK {
		return "reachable"
	}
	return fmt.Sprintf("%s: %s", h.Reason, h.Message)
}
