// Package scheme builds the runtime.Scheme holding every type the operator reads or writes:
// its own API, core Kubernetes, MetalLB, Gateway API and the Skupper subset.
package scheme

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	mlbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	mlbv1beta2 "go.universe.tf/metallb/api/v1beta2"

	skupperv2 "github.com/anycast-operator/anycast-operator/api/external/skupper/v2alpha1"
	v1alpha1 "github.com/anycast-operator/anycast-operator/api/v1alpha1"
)

// New returns a fresh scheme with every type registered.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	utilruntime.Must(mlbv1beta1.AddToScheme(s))
	utilruntime.Must(mlbv1beta2.AddToScheme(s))
	utilruntime.Must(gwv1.Install(s))
	utilruntime.Must(skupperv2.AddToScheme(s))
	return s
}
