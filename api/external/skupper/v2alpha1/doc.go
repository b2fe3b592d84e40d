// Package v2alpha1 holds typed structs for the subset of skupper.io/v2alpha1 this operator
// writes and reads: Site, Listener, Connector, AccessGrant, AccessToken and Link.
//
// The Skupper Go module cannot be downloaded from the module proxy this project builds
// with, so these structs are written from the upstream CRD schemas (see
// ../shared/crds/skupper, commit 80b1ba6de37f). Fields follow the CRDs' JSON names exactly;
// tests create every rendered object against those CRDs and read it back unchanged.
//
// +kubebuilder:object:generate=true
// +groupName=skupper.io
package v2alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is skupper.io/v2alpha1.
	GroupVersion = schema.GroupVersion{Group: "skupper.io", Version: "v2alpha1"}
	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	// AddToScheme adds the types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
