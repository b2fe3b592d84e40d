package multicluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
	"github.com/anycast-operator/anycast-operator/test/testenv"
)

// TestBadKubeconfigs: a kubeconfig Secret that is missing, lacks its key, holds garbage or
// trusts the wrong CA each gets a precise reason on its member; the other members are
// unaffected.
func TestBadKubeconfigs(t *testing.T) {
	wrongCA, err := wrongCAKubeconfig(east.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]map[string][]byte{
		"bad-no-key":   {"config": east.Kubeconfig()},
		"bad-garbage":  {"kubeconfig": []byte("apiVersion: v1\nclusters: [this is not: a kubeconfig")},
		"bad-wrong-ca": {"kubeconfig": wrongCA},
	} {
		create(t, west.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: operatorNamespace}, Data: data})
	}
	remote := func(name, secret string, asn int64) v1alpha1.ClusterMember {
		return v1alpha1.ClusterMember{Name: name, ASN: asn, KubeconfigSecretRef: &v1alpha1.SecretKeyReference{Name: secret}}
	}
	create(t, west.Client, class("badcfg",
		member("west", 65001, v1alpha1.InterconnectHub),
		member("north", 65003, v1alpha1.InterconnectSpoke),
		remote("nokey", "bad-no-key", 65011),
		remote("garbage", "bad-garbage", 65012),
		remote("wrongca", "bad-wrong-ca", 65013),
		remote("nosecret", "does-not-exist", 65014),
		remote("bare", "bare-kubeconfig", 65015),
	))
	want := map[string]string{
		"nokey":    "KubeconfigKeyMissing",
		"garbage":  "BadKubeconfig",
		"wrongca":  "BadCertificate",
		"nosecret": "KubeconfigSecretNotFound",
		"bare":     "MissingCRDs",
	}
	cls := waitClass(t, "badcfg", "precise reasons per member", converge, func(c *v1alpha1.AnycastClass) error {
		if err := testenv.ConditionIs(c.Status.Conditions, c.Generation, v1alpha1.ConditionClustersReachable, metav1.ConditionFalse, ""); err != nil {
			return err
		}
		for name, reason := range want {
			m := classMember(c, name)
			if m == nil || m.Reachable || m.Reason != reason {
				return fmt.Errorf("member %s: %+v, want reason %s", name, m, reason)
			}
		}
		for _, name := range []string{"west", "north"} {
			if m := classMember(c, name); m == nil || !m.Reachable {
				return fmt.Errorf("member %s should be reachable: %+v", name, m)
			}
		}
		return nil
	})
	for name := range want {
		t.Logf("%s: %s", name, classMember(cls, name).Message)
	}
	if m := classMember(cls, "garbage").Message; mentions(m, "bad-garbage") != nil {
		t.Errorf("the message should name the Secret: %s", m)
	}
	if m := classMember(cls, "bare").Message; mentions(m, "MetalLB", "Gateway API", "Skupper") != nil {
		t.Errorf("the message should name every missing product: %s", m)
	}

	ns := namespace(t, "badcfg")
	create(t, west.Client, ingress(ns, "hello", "badcfg", "192.168.155.156"))
	ing := waitIngress(t, ns, "hello", "programmed where possible", func(i *v1alpha1.AnycastIngress) error {
		if err := testenv.ConditionIs(i.Status.Conditions, i.Generation, v1alpha1.ConditionProgrammed, metav1.ConditionFalse, "MemberUnavailable"); err != nil {
			return err
		}
		for _, name := range []string{"west", "north"} {
			if cs := i.Status.Cluster(name); cs == nil || !cs.Programmed {
				return fmt.Errorf("%s not programmed: %+v", name, cs)
			}
		}
		return nil
	})
	if cs := ing.Status.Cluster("wrongca"); cs == nil || mentions(cs.Message, "certificate") != nil {
		t.Errorf("wrongca status should explain the certificate problem: %+v", cs)
	}

	// Fixing a Secret brings its member in, without a restart.
	fixed := &corev1.Secret{}
	if err := west.Client.Get(context.Background(), client.ObjectKey{Namespace: operatorNamespace, Name: "bad-no-key"}, fixed); err != nil {
		t.Fatal(err)
	}
	fixed.Data["kubeconfig"] = north.Kubeconfig()
	if err := west.Client.Update(context.Background(), fixed); err != nil {
		t.Fatal(err)
	}
	waitClass(t, "badcfg", "nokey reachable once its Secret is fixed", converge, func(c *v1alpha1.AnycastClass) error {
		if m := classMember(c, "nokey"); m == nil || !m.Reachable {
			return fmt.Errorf("nokey: %+v", m)
		}
		return nil
	})
	waitIngress(t, ns, "hello", "programmed on nokey", func(i *v1alpha1.AnycastIngress) error {
		if cs := i.Status.Cluster("nokey"); cs == nil || !cs.Programmed {
			return fmt.Errorf("nokey: %+v", cs)
		}
		return nil
	})
}

// wrongCAKubeconfig returns kubeconfig with its cluster CA replaced by an unrelated one.
func wrongCAKubeconfig(kubeconfig []byte) ([]byte, error) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not-the-cluster-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	for _, c := range cfg.Clusters {
		c.CertificateAuthorityData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return clientcmd.Write(*cfg)
}
