package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of an AnycastIngress (besides Accepted and Ready).
const (
	// ConditionProgrammed is True when every selected member holds the rendered objects.
	ConditionProgrammed = "Programmed"
	// ConditionLinked is True when every member that needs it is linked into the Skupper
	// network of the ingress namespace.
	ConditionLinked = "Linked"
	// ConditionAdvertised is True when the watcher sees every selected, non-drained member as
	// an origin of the VIP.
	ConditionAdvertised = "Advertised"
	// ConditionDrained is True when every drained member is as its drain mode asks at the
	// routers: gone (withdraw) or seen with the longer AS path (prepend).
	ConditionDrained = "Drained"
	// ConditionHealthy is True when every serving member can serve: its Gateway is
	// programmed with the VIP, its LoadBalancer Service carries the VIP and every route has
	// a ready backend. An unhealthy member's advertisement is withdrawn.
	ConditionHealthy = "Healthy"
)

// DrainMode says how a drained member stops attracting traffic.
// +kubebuilder:validation:Enum=withdraw;prepend
type DrainMode string

const (
	// DrainWithdraw removes the member's advertisement: the routers forget its path.
	DrainWithdraw DrainMode = "withdraw"
	// DrainPrepend keeps the advertisement with a longer AS path: the routers stop using it
	// for ECMP but keep it as a backup (MetalLB FRR modes only).
	DrainPrepend DrainMode = "prepend"
)

// DrainPolicy says how drained members leave.
type DrainPolicy struct {
	// mode is withdraw (remove the advertisement, the default) or prepend (advertise with
	// the member's ASN prepended, so routers prefer the others but keep it as a backup;
	// needs MetalLB in an FRR mode).
	// +kubebuilder:default=withdraw
	// +optional
	Mode DrainMode `json:"mode,omitempty"`

	// prependCount is how many times the member's ASN is prepended in prepend mode.
	// +kubebuilder:default=3
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	PrependCount *int32 `json:"prependCount,omitempty"`
}

// HealthGate withdraws the VIP from a member that cannot serve it.
type HealthGate struct {
	// enabled turns the gate on (default). Off, every selected member advertises whatever
	// its state.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// withdrawAfter is how long a member must stay unhealthy before its advertisement is
	// withdrawn, so that one bad reading does not move traffic. Default 2s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('1h')",message="withdrawAfter must be at most 1h"
	WithdrawAfter *metav1.Duration `json:"withdrawAfter,omitempty"`

	// holdDown is how long a withdrawn member must stay healthy before it advertises again:
	// the hysteresis that keeps a flapping member out. Default 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="holdDown must be at most 24h"
	HoldDown *metav1.Duration `json:"holdDown,omitempty"`
}

// ListenerProtocol is the protocol of a Gateway listener.
// +kubebuilder:validation:Enum=HTTP;HTTPS;TLS
type ListenerProtocol string

// Listener protocols.
const (
	ProtocolHTTP  ListenerProtocol = "HTTP"
	ProtocolHTTPS ListenerProtocol = "HTTPS"
	ProtocolTLS   ListenerProtocol = "TLS"
)

// Advertisement tunes how members announce the VIP.
type Advertisement struct {
	// communities attached to the VIP's announcement: standard "65535:100" or large
	// "large:64512:1:100" (large communities need an FRR mode).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=40
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[0-9]{1,5}:[0-9]{1,5}$') ? self.split(':').all(p, int(p) <= 65535) : (self.matches('^large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && self.split(':').all(p, p == 'large' || int(p) <= 4294967295))",message="each community must be AS:VALUE with both parts 0..65535, or large:GLOBAL:DATA1:DATA2 with each part 0..4294967295"
	Communities []string `json:"communities,omitempty"`

	// localPref sets the BGP LOCAL_PREF attribute (meaningful to iBGP peers). MetalLB's
	// BGPAdvertisement holds it as a 32-bit signed integer, so at most 2147483647.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	LocalPref *int64 `json:"localPref,omitempty"`
}

// TLSConfig is the TLS termination of an HTTPS listener.
type TLSConfig struct {
	// certificateRefs name Secrets of type kubernetes.io/tls in the ingress namespace of
	// each member.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	CertificateRefs []string `json:"certificateRefs"`
}

// Listener is one listener of the rendered Gateway.
// +kubebuilder:validation:XValidation:rule="self.protocol != 'HTTPS' || has(self.tls)",message="an HTTPS listener needs tls.certificateRefs"
// +kubebuilder:validation:XValidation:rule="self.protocol != 'HTTP' || !has(self.tls)",message="an HTTP listener cannot have tls"
type Listener struct {
	// name of the listener, unique within the ingress; routes attach to it by name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// protocol of the listener.
	// +kubebuilder:default=HTTP
	// +optional
	Protocol ListenerProtocol `json:"protocol,omitempty"`

	// port the Gateway listens on at the VIP.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// hostname the listener matches, for example "*.apps.example.com".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Hostname string `json:"hostname,omitempty"`

	// tls configures termination for HTTPS (required) and TLS listeners.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`
}

// Backend is the Service a route sends traffic to.
type Backend struct {
	// service name in the ingress namespace. When it names an entry of spec.services that
	// does not run on a member, that member's route points at the Skupper listener instead.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Service string `json:"service"`

	// port of the Service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// GRPCMatch selects gRPC calls by service and method.
type GRPCMatch struct {
	// service is the fully qualified gRPC service, for example "helloworld.Greeter";
	// empty matches every service.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$`
	Service string `json:"service,omitempty"`

	// method is the gRPC method, for example "SayHello"; empty matches every method of
	// the service.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z_0-9]*$`
	Method string `json:"method,omitempty"`
}

// Route is a convenience route on the rendered Gateway: an HTTPRoute, a GRPCRoute when
// it sets grpc, or a TLSRoute when it attaches to a TLS listener (passthrough by SNI:
// the route's hostnames, else the listener's). More elaborate routes can be written
// directly as Gateway API routes that attach to the Gateway.
// +kubebuilder:validation:XValidation:rule="!has(self.grpc) || ((!has(self.pathPrefix) || self.pathPrefix == '/') && !has(self.rewritePrefix))",message="a gRPC route matches services and methods, not paths: remove pathPrefix and rewritePrefix"
type Route struct {
	// name of the route, unique within the ingress.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// listener attaches the route to one listener only; default: all listeners.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Listener string `json:"listener,omitempty"`

	// hostnames the route matches; default: the listener's hostname.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Hostnames []string `json:"hostnames,omitempty"`

	// pathPrefix the route matches.
	// +kubebuilder:default=/
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	PathPrefix string `json:"pathPrefix,omitempty"`

	// rewritePrefix replaces the matched prefix before the request reaches the backend.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	RewritePrefix string `json:"rewritePrefix,omitempty"`

	// grpc makes the route a GRPCRoute that matches this service and method (on an HTTP
	// or HTTPS listener); a gRPC route has no pathPrefix or rewritePrefix.
	// +optional
	GRPC *GRPCMatch `json:"grpc,omitempty"`

	// backend receives the traffic.
	Backend Backend `json:"backend"`
}

// CrossClusterService is a workload that runs on some members and is reached from the
// others over the Skupper network of the ingress namespace.
type CrossClusterService struct {
	// name of the service: the Skupper listener on members where it does not run creates a
	// Service of this name, so routes reach it by the same name everywhere.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// port the workload listens on, and the port of the listener's Service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// selector picks the workload's pods where it runs, as a label selector string
	// ("app=backend").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Selector string `json:"selector"`

	// runsOn names the members where the workload runs (a Skupper Connector there); every
	// other selected member gets a Skupper Listener.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	RunsOn []string `json:"runsOn"`
}

// AnycastIngressSpec is one anycast entry point.
// +kubebuilder:validation:XValidation:rule="!has(self.drain) || !has(self.clusters) || self.drain.all(d, d in self.clusters)",message="drain may only name clusters listed in clusters"
// +kubebuilder:validation:XValidation:rule="!has(self.drain) || !has(self.clusters) || self.clusters.exists(c, !(c in self.drain))",message="drain cannot name every selected cluster: drain the ingress by deleting it"
// +kubebuilder:validation:XValidation:rule="!has(self.routes) || self.routes.all(r, !has(r.listener) || (has(self.listeners) && self.listeners.exists(l, l.name == r.listener)))",message="a route's listener must name one of spec.listeners"
// +kubebuilder:validation:XValidation:rule="!has(self.services) || !has(self.clusters) || self.services.all(s, s.runsOn.all(c, c in self.clusters))",message="services[].runsOn may only name clusters listed in clusters"
// +kubebuilder:validation:XValidation:rule="!has(self.listeners) || self.listeners.all(a, self.listeners.filter(b, b.port == a.port && (has(b.hostname) ? b.hostname : '-') == (has(a.hostname) ? a.hostname : '-')).size() == 1)",message="two listeners cannot share a port and hostname"
type AnycastIngressSpec struct {
	// className names the AnycastClass this ingress uses. Immutable: create a new ingress to
	// move to another class.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="className is immutable"
	ClassName string `json:"className"`

	// address is the anycast VIP, IPv4 or IPv6, inside one of the class pools. When unset,
	// the lowest free address of the class pools is allocated and reported in
	// status.address.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="address must be an IPv4 or IPv6 address"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip.isCanonical(self)",message="address must be written in canonical form (e.g. 2001:db8::1, not 2001:0db8::0001)"
	Address string `json:"address,omitempty"`

	// clusters selects the class members that serve this ingress; default: all of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Clusters []string `json:"clusters,omitempty"`

	// drain withdraws the VIP from these members while the others keep serving it. The
	// Gateway and routes stay, so undraining is immediate.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Drain []string `json:"drain,omitempty"`

	// drainPolicy says how drained members leave: withdraw (default) or prepend.
	// +optional
	DrainPolicy *DrainPolicy `json:"drainPolicy,omitempty"`

	// health withdraws the VIP from a member that cannot serve it (on by default).
	// +optional
	Health *HealthGate `json:"health,omitempty"`

	// advertisement tunes the BGP announcement of the VIP.
	// +optional
	Advertisement *Advertisement `json:"advertisement,omitempty"`

	// listeners of the rendered Gateway; default: one HTTP listener "http" on port 80.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Listeners []Listener `json:"listeners,omitempty"`

	// routes are convenience HTTPRoutes attached to the rendered Gateway.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Routes []Route `json:"routes,omitempty"`

	// services run on some members and are reached from the others over Skupper.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Services []CrossClusterService `json:"services,omitempty"`
}

// IngressClusterStatus is the state of one member for this ingress.
type IngressClusterStatus struct {
	// name of the member.
	Name string `json:"name"`
	// programmed is true when the member holds every rendered object.
	Programmed bool `json:"programmed"`
	// drained is true when the member is drained in the spec.
	// +optional
	Drained bool `json:"drained,omitempty"`
	// advertised is true when the watcher sees the member as an origin of the VIP; unset
	// without a watcher.
	// +optional
	Advertised *bool `json:"advertised,omitempty"`
	// link is the Skupper link state of the member: n/a, Pending, Ready or Error.
	// +optional
	Link string `json:"link,omitempty"`
	// message says what is wrong on this member, if anything.
	// +optional
	Message string `json:"message,omitempty"`
	// health is the member's verdict for this ingress: Healthy or Unhealthy (absent with
	// the health gate off).
	// +optional
	Health string `json:"health,omitempty"`
	// healthMessage says why the member is unhealthy.
	// +optional
	HealthMessage string `json:"healthMessage,omitempty"`
	// healthSince is when the verdict last changed.
	// +optional
	HealthSince *metav1.Time `json:"healthSince,omitempty"`
	// advertisement is what the operator asks the member's MetalLB to do with the VIP:
	// Advertise, Prepend or Withdraw.
	// +optional
	Advertisement string `json:"advertisement,omitempty"`
	// withdrawnReason says why the member is withdrawn or prepended: Drained, or the
	// health verdict that withdrew it.
	// +optional
	WithdrawnReason string `json:"withdrawnReason,omitempty"`
	// announcingNodes is how many of the member's nodes MetalLB's speakers report
	// announcing the VIP from (its ServiceBGPStatus objects, MetalLB v0.15 and later);
	// unset when MetalLB publishes none for the Gateway's Service.
	// +optional
	AnnouncingNodes *int32 `json:"announcingNodes,omitempty"`
	// routerState is what the routers carry for the member, as the watcher sees it:
	// Advertised, Prepended (its path carries its ASN more than once) or Withdrawn.
	// +optional
	RouterState string `json:"routerState,omitempty"`
	// routerStateSince is when routerState last changed.
	// +optional
	RouterStateSince *metav1.Time `json:"routerStateSince,omitempty"`
	// certificates are the HTTPS listeners' certificates as this member serves them.
	// +optional
	// +listType=map
	// +listMapKey=secret
	Certificates []MemberCertificateStatus `json:"certificates,omitempty"`
}

// MemberCertificateStatus is one listener certificate on one member.
type MemberCertificateStatus struct {
	// secret is the Secret a listener names in tls.certificateRefs.
	Secret string `json:"secret"`
	// servedFrom is the Secret the member's Gateway uses: the operator's copy
	// "<ingress>.<secret>" when the class copies certificates from the hub, else secret.
	ServedFrom string `json:"servedFrom"`
	// fingerprint is the SHA-256 of the leaf certificate (DER), in hex; empty when the
	// member has no usable certificate.
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`
	// notAfter is when the leaf certificate expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// problem is what is wrong with it, if anything: Missing, Unreadable, Invalid,
	// Differs, Expiring (sooner than the class's minValidity: the member is unhealthy) or
	// ExpiringSoon (sooner than warnBefore: a warning only).
	// +optional
	Problem string `json:"problem,omitempty"`
}

// PathStatus is one path to the VIP as the watcher sees it: received on one of its BGP
// sessions, or reported by a router over BMP.
type PathStatus struct {
	// session that saw the path: a watcher session's name, or a BMP router's
	// (spec.watcher.bmp.routers), the router that holds the path.
	Session string `json:"session"`
	// peer is, for a path a router reported over BMP, the router's neighbour it received the
	// path from (the monitored peer); empty for the router's Loc-RIB and for BGP sessions.
	// +optional
	Peer string `json:"peer,omitempty"`
	// peerAS is that neighbour's AS.
	// +optional
	PeerAS int64 `json:"peerAS,omitempty"`
	// rib is, for a path reported over BMP, the router's table it is from: PrePolicy (the
	// neighbour's routes as received), PostPolicy (after the router's import policy) or
	// LocRIB (the router's selected routes).
	// +optional
	RIB string `json:"rib,omitempty"`
	// nextHop of the path.
	NextHop string `json:"nextHop"`
	// asPath of the path, space separated.
	// +optional
	ASPath string `json:"asPath,omitempty"`
	// originAS is the last AS of the path.
	// +optional
	OriginAS int64 `json:"originAS,omitempty"`
	// cluster is the member whose ASN is the origin AS, if any.
	// +optional
	Cluster string `json:"cluster,omitempty"`
	// communities carried by the path.
	// +optional
	Communities []string `json:"communities,omitempty"`
	// since is when the path was received.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
}

// AnycastIngressStatus is the observed state of an AnycastIngress.
type AnycastIngressStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// address is the VIP in use: spec.address, or the allocated one.
	// +optional
	Address string `json:"address,omitempty"`

	// conditions: Accepted, Programmed, Linked, Advertised, Drained, Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// clusters is the state of each selected member.
	// +optional
	// +listType=map
	// +listMapKey=name
	Clusters []IngressClusterStatus `json:"clusters,omitempty"`

	// paths are the routers' paths to the VIP, as the watcher sees them.
	// +optional
	Paths []PathStatus `json:"paths,omitempty"`
}

// AnycastIngress is one anycast entry point: a VIP served by a Gateway on every selected
// member of its class, advertised over BGP by each member's MetalLB, with cross-cluster
// services over Skupper.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=aci,categories=anycast
// +kubebuilder:printcolumn:name="Class",type=string,JSONPath=`.spec.className`
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.status.address`
// +kubebuilder:printcolumn:name="Drain",type=string,JSONPath=`.spec.drain`,priority=1
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`
// +kubebuilder:printcolumn:name="Advertised",type=string,JSONPath=`.status.conditions[?(@.type=="Advertised")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63",message="metadata.name must be a DNS label (lowercase letters, digits and '-', at most 63 characters): it names the Gateway and labels every rendered object"
type AnycastIngress struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired entry point.
	Spec AnycastIngressSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status AnycastIngressStatus `json:"status,omitempty"`
}

// AnycastIngressList is a list of AnycastIngress.
//
// +kubebuilder:object:root=true
type AnycastIngressList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnycastIngress `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AnycastIngress{}, &AnycastIngressList{})
}

// Cluster is the status entry of the named member; nil when the status has none.
func (s *AnycastIngressStatus) Cluster(name string) *IngressClusterStatus {
	for i := range s.Clusters {
		if s.Clusters[i].Name == name {
			return &s.Clusters[i]
		}
	}
	return nil
}
